// links: policy/policy_decide.c policy/policy_match.c policy/policy_rcpt.c policy/policy_db.c conf/makecdb_lex.c conf/makecdb_parse.c conf/makecdb_check.c conf/makecdb_write.c conf/mkfile.c conf/makecdb_dkim.c
/* test_policy_decide.c: the decision table of doc/BEHAVIOUR.md §2, one case per
 * row and per mode combination, over rules compiled by makecdb's own
 * compiler into a temporary instance.  Each case asserts the full reply
 * line and, when accepted, the envelope sender that will be used. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../conf/makecdb.h"
#include "../../policy/policy_decide.h"
#include "settings.h"
#include "susp.h"
#include "rate_limits.h"
#include "rulekeys.h"
#include "t.h"

#define H "$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74"

static const char rules[] =
	"customer acme licenses=25\n"
	"domain example.com customer=acme\n"
	"user mailer@example.com hash=" H " customer=acme\n"
	"user exchange@example.com hash=" H "\n"
	"user gone@example.com hash=" H " suspended=yes\n"
	"user admin@bank.test hash=" H " customer=acme\n"
	"rule acme portal senders=registered auth=ip\n"
	"ip acme portal 203.0.113.10\n"
	"rule acme exchange senders=any auth=smtp\n"
	"rule acme printer senders=domain auth=ip tls=yes\n"
	"ip acme printer 198.51.100.25\n"
	"rule acme office senders=domain auth=both\n"
	"ip acme office 192.0.2.0/28\n"
	"rule acme lan2 senders=domain auth=ip tls=yes\n"
	"ip acme lan2 192.0.2.136\n"
	"rule acme lan3 senders=domain auth=ip\n"
	"ip acme lan3 192.0.2.128/26\n"
	"rule acme old senders=any auth=ip enabled=no\n"
	"ip acme old 192.0.2.200\n"
	"ip acme portal 192.0.2.201 disabled\n"
	"customer beta licenses=2 paid=no\n"
	"domain beta.test customer=beta\n"
	"rule beta lan senders=domain auth=ip\n"
	"ip beta lan 198.51.100.0/24\n"
	"customer frozen suspended=yes\n"
	"domain frozen.test customer=frozen\n"
	"rule frozen lan senders=domain auth=ip\n"
	"ip frozen lan 10.9.9.9\n"
	"customer anyco\n"
	"domain anyco.test customer=anyco\n"
	"rule anyco lan senders=any auth=ip\n"
	"ip anyco lan 10.1.1.1\n"
	"ip anyco lan 2001:db8::1\n"
	"ip anyco lan 2001:db8:1::/112\n"
	"ip anyco lan 2001:db8:2:3::/64\n"
	/* a shared host: two customers list the same address */
	"customer alpha\n"
	"domain alpha.test customer=alpha\n"
	"rule alpha web senders=domain auth=ip\n"
	"ip alpha web 10.6.6.6\n"
	"customer gamma\n"
	"domain gamma.test customer=gamma\n"
	"rule gamma web senders=domain auth=ip\n"
	"ip gamma web 10.6.6.6\n"
	/* a customer with no domain: nothing to rewrite a sender to */
	"customer nodom\n"
	"user solo@solo.test hash=" H " customer=nodom\n"
	"rule nodom relay senders=any auth=smtp\n";

struct dcase {
	const char *name, *ip, *helo, *user;
	int tls;
	const char *from;
	const char *rcpt[3];   /* asked in order; the reply checked is the last */
	const char *reply;     /* full line of the last step */
	const char *sender;    /* envelope sender after MAIL, when accepted */
};

#define INV "Invalid credentials for relay [%s]. The IP address is registered, but not for the domain this mail is sent from; use SMTP AUTH or present one of your domains in HELO/EHLO."

static const struct dcase cases[] = {
	{ "unknown ip, no auth", "192.0.2.99", "", "", 0, "a@example.com", { 0 },
	  "550 5.7.0 Mail relay denied [192.0.2.99].", 0 },
	{ "unknown ipv6, no auth", "2001:db8::99", "anyco.test", "", 0, "a@anyco.test", { 0 },
	  "550 5.7.0 Mail relay denied [2001:db8::99].", 0 },
	{ "ip only, registered sender", "203.0.113.10", "", "", 0, "mailer@example.com",
	  { "x@example.org" }, "250 2.1.5 Recipient <x@example.org> ok", "mailer@example.com" },
	{ "ip only, mixed case sender", "203.0.113.10", "", "", 0, "Mailer@Example.COM",
	  { 0 }, "250 2.1.0 Sender <Mailer@example.com> ok (rule acme/portal)", "Mailer@example.com" },
	{ "registered: unregistered sender", "203.0.113.10", "", "", 0, "other@example.com", { 0 },
	  "550 5.7.1 Sender <other@example.com> refused by rule acme/portal (senders=registered): not a registered user.", 0 },
	{ "ip registered, sender of another customer", "203.0.113.10", "", "", 0, "x@beta.test", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "another's ip, sender of a customer with an auth=smtp rule, plain", "198.51.100.7", "", "", 0, "a@example.com", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "another's ip, sender of a customer with an auth=smtp rule, tls", "198.51.100.7", "", "", 1, "a@example.com", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "another's ip, helo of a customer with an auth=smtp rule", "198.51.100.7", "example.com", "", 1, "x@foreign.test", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "ip registered, unknown sender domain", "203.0.113.10", "", "", 0, "x@unknown.test", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "ip registered, helo of another customer", "203.0.113.10", "beta.test", "", 0, "mailer@example.com", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "tls required, plaintext", "198.51.100.25", "", "", 0, "scan@example.com", { 0 },
	  "530 5.7.0 Must issue a STARTTLS command first.", 0 },
	{ "tls required, encrypted", "198.51.100.25", "", "", 1, "scan@example.com", { 0 },
	  "250 2.1.0 Sender <scan@example.com> ok (rule acme/printer)", "scan@example.com" },
	{ "overlap: longest prefix owns the address", "198.51.100.25", "", "", 0, "x@beta.test", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "overlap: rest of the wider range", "198.51.100.24", "", "", 0, "x@beta.test", { 0 },
	  "250 2.1.0 Sender <x@beta.test> ok (rule beta/lan)", "x@beta.test" },
	{ "same address, two customers: the first's sender", "10.6.6.6", "", "", 0, "a@alpha.test", { 0 },
	  "250 2.1.0 Sender <a@alpha.test> ok (rule alpha/web)", "a@alpha.test" },
	{ "same address, two customers: the second's sender", "10.6.6.6", "", "", 0, "g@gamma.test", { 0 },
	  "250 2.1.0 Sender <g@gamma.test> ok (rule gamma/web)", "g@gamma.test" },
	{ "same address, two customers: the second's helo", "10.6.6.6", "gamma.test", "", 0, "a@alpha.test", { 0 },
	  "550 5.7.1 Sender <a@alpha.test> refused by rule gamma/web (senders=domain): alpha.test is not a domain of customer gamma.", 0 },
	{ "same address, two customers: a third's sender", "10.6.6.6", "", "", 0, "x@beta.test", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "same customer: a wider range's rule still applies", "192.0.2.136", "", "", 0, "a@example.com", { 0 },
	  "250 2.1.0 Sender <a@example.com> ok (rule acme/lan3)", "a@example.com" },
	{ "same customer: narrower rule first when it accepts", "192.0.2.136", "", "", 1, "a@example.com", { 0 },
	  "250 2.1.0 Sender <a@example.com> ok (rule acme/lan2)", "a@example.com" },
	{ "both: ip ok, no auth", "192.0.2.5", "", "", 1, "a@example.com", { 0 },
	  "530 5.7.0 Authentication required.", 0 },
	{ "both: ip ok, auth", "192.0.2.5", "", "exchange@example.com", 1, "a@example.com", { 0 },
	  "250 2.1.0 Sender <a@example.com> ok (rule acme/exchange)", "a@example.com" },
	{ "smtp auth, foreign sender rewritten", "192.0.2.99", "", "exchange@example.com", 1, "x@foreign.test",
	  { "r@example.org" }, "250 2.1.5 Recipient <r@example.org> ok", "postmaster@example.com" },
	{ "auth, user's domain undeclared: foreign sender", "192.0.2.99", "", "admin@bank.test", 1, "x@foreign.test", { 0 },
	  "250 2.1.0 Sender <postmaster@example.com> ok (rule acme/exchange)", "postmaster@example.com" },
	{ "auth, user's domain undeclared: null sender", "192.0.2.99", "", "admin@bank.test", 1, "", { 0 },
	  "250 2.1.0 Sender <postmaster@example.com> ok (rule acme/exchange)", "postmaster@example.com" },
	{ "auth, user's domain undeclared: its own address", "192.0.2.99", "", "admin@bank.test", 1, "admin@bank.test", { 0 },
	  "250 2.1.0 Sender <postmaster@example.com> ok (rule acme/exchange)", "postmaster@example.com" },
	{ "auth, user's domain undeclared: a domain of the customer", "192.0.2.99", "", "admin@bank.test", 1, "a@example.com", { 0 },
	  "250 2.1.0 Sender <a@example.com> ok (rule acme/exchange)", "a@example.com" },
	{ "auth, customer without a domain: foreign sender", "192.0.2.99", "", "solo@solo.test", 1, "x@foreign.test", { 0 },
	  "550 5.7.1 Sender <x@foreign.test> refused: customer nodom has no domain to rewrite it to.", 0 },
	{ "auth, customer without a domain: null sender", "192.0.2.99", "", "solo@solo.test", 1, "", { 0 },
	  "550 5.7.1 Sender <> refused: customer nodom has no domain to rewrite it to.", 0 },
	{ "smtp auth without tls", "192.0.2.99", "", "exchange@example.com", 0, "a@example.com", { 0 },
	  "530 5.7.0 Must issue a STARTTLS command first.", 0 },
	{ "null sender, customer by sender impossible", "203.0.113.10", "", "", 0, "", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "null sender, helo: rewritten", "10.1.1.1", "anyco.test", "", 0, "",
	  { "r@example.org" }, "250 2.1.5 Recipient <r@example.org> ok", "postmaster@anyco.test" },
	{ "null sender, two recipients", "10.1.1.1", "anyco.test", "", 0, "",
	  { "r@example.org", "s@example.org" }, "550 5.5.3 The null sender <> takes only one recipient.", "postmaster@anyco.test" },
	{ "null sender, auth: rewritten", "192.0.2.99", "", "exchange@example.com", 1, "",
	  { 0 }, "250 2.1.0 Sender <postmaster@example.com> ok (rule acme/exchange)", "postmaster@example.com" },
	{ "any: foreign sender without helo/auth", "10.1.1.1", "", "", 0, "x@foreign.test", { 0 },
	  "550 5.7.1 " INV, 0 },
	{ "any: foreign sender with helo", "10.1.1.1", "anyco.test", "", 0, "x@foreign.test", { 0 },
	  "250 2.1.0 Sender <postmaster@anyco.test> ok (rule anyco/lan)", "postmaster@anyco.test" },
	{ "domain: foreign sender with helo", "198.51.100.7", "beta.test", "", 0, "x@foreign.test", { 0 },
	  "550 5.7.1 Sender <x@foreign.test> refused by rule beta/lan (senders=domain): foreign.test is not a domain of customer beta.", 0 },
	{ "ipv6 rule", "2001:db8::1", "", "", 0, "a@anyco.test", { 0 },
	  "250 2.1.0 Sender <a@anyco.test> ok (rule anyco/lan)", "a@anyco.test" },
	{ "ipv6 /112: last address inside", "2001:db8:1::ffff", "", "", 0, "a@anyco.test", { 0 },
	  "250 2.1.0 Sender <a@anyco.test> ok (rule anyco/lan)", "a@anyco.test" },
	{ "ipv6 /112: first address outside", "2001:db8:1::1:0", "", "", 0, "a@anyco.test", { 0 },
	  "550 5.7.0 Mail relay denied [2001:db8:1::1:0].", 0 },
	{ "ipv6 /64: first address inside", "2001:db8:2:3::", "", "", 0, "a@anyco.test", { 0 },
	  "250 2.1.0 Sender <a@anyco.test> ok (rule anyco/lan)", "a@anyco.test" },
	{ "ipv6 /64: last address inside", "2001:db8:2:3:ffff:ffff:ffff:ffff", "", "", 0, "a@anyco.test", { 0 },
	  "250 2.1.0 Sender <a@anyco.test> ok (rule anyco/lan)", "a@anyco.test" },
	{ "ipv6 /64: next /64 outside", "2001:db8:2:4::", "", "", 0, "a@anyco.test", { 0 },
	  "550 5.7.0 Mail relay denied [2001:db8:2:4::].", 0 },
	{ "ipv4 /28: first address outside", "192.0.2.16", "", "", 0, "a@example.com", { 0 },
	  "550 5.7.0 Mail relay denied [192.0.2.16].", 0 },
	{ "ipv4 /28: last address inside", "192.0.2.15", "", "", 1, "a@example.com", { 0 },
	  "530 5.7.0 Authentication required.", 0 },
	{ "suspended customer", "10.9.9.9", "", "", 0, "a@frozen.test", { 0 },
	  "550 5.7.1 The account of customer frozen is suspended.", 0 },
	{ "suspended user (auth)", "192.0.2.99", "", "gone@example.com", 1, "gone@example.com", { 0 },
	  "550 5.7.1 The account gone@example.com is suspended.", 0 },
	{ "suspended user (sender)", "198.51.100.25", "", "", 1, "gone@example.com", { 0 },
	  "550 5.7.1 Sender <gone@example.com>: the account is suspended.", 0 },
	/* a quoted local part that needs no quoting is the same mailbox */
	{ "registered: quoted sender", "203.0.113.10", "", "", 0, "\"mailer\"@example.com",
	  { "x@example.org" }, "250 2.1.5 Recipient <x@example.org> ok", "mailer@example.com" },
	{ "registered: quoted-pair sender", "203.0.113.10", "", "", 0, "\"Mail\\er\"@example.com",
	  { 0 }, "250 2.1.0 Sender <Mailer@example.com> ok (rule acme/portal)", "Mailer@example.com" },
	{ "suspended user (quoted sender)", "198.51.100.25", "", "", 1, "\"gone\"@example.com", { 0 },
	  "550 5.7.1 Sender <gone@example.com>: the account is suspended.", 0 },
	{ "suspended user (quoted-pair sender)", "198.51.100.25", "", "", 1, "\"g\\one\"@example.com", { 0 },
	  "550 5.7.1 Sender <gone@example.com>: the account is suspended.", 0 },
	{ "disabled rule's address", "192.0.2.200", "", "", 0, "a@example.com", { 0 },
	  "550 5.7.0 Mail relay denied [192.0.2.200].", 0 },
	{ "disabled address entry", "192.0.2.201", "", "", 0, "mailer@example.com", { 0 },
	  "550 5.7.0 Mail relay denied [192.0.2.201].", 0 },
	{ "rcpt %", "203.0.113.10", "", "", 0, "mailer@example.com", { "a%b@example.org" },
	  "553 5.1.3 Recipient address not accepted for relay: '%' routing.", "mailer@example.com" },
	{ "rcpt !", "203.0.113.10", "", "", 0, "mailer@example.com", { "host!a@example.org" },
	  "553 5.1.3 Recipient address not accepted for relay: '!' routing.", "mailer@example.com" },
	{ "rcpt quoted @", "203.0.113.10", "", "", 0, "mailer@example.com", { "\"a@b\"@example.org" },
	  "553 5.1.3 Recipient address not accepted for relay: quoted local part.", "mailer@example.com" },
	{ "rcpt ip literal", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@[192.0.2.1]" },
	  "553 5.1.3 Recipient address not accepted for relay: IP address literal.", "mailer@example.com" },
	{ "rcpt dotted quad", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@192.0.2.1" },
	  "553 5.1.3 Recipient address not accepted for relay: numeric top-level domain.", "mailer@example.com" },
	{ "rcpt numeric tld", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@host.123" },
	  "553 5.1.3 Recipient address not accepted for relay: numeric top-level domain.", "mailer@example.com" },
	{ "rcpt digits in a label", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@123.example.org" },
	  "250 2.1.5 Recipient <a@123.example.org> ok", "mailer@example.com" },
	{ "rcpt trailing dot", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@example.org." },
	  "553 5.1.3 Recipient address not accepted for relay: trailing dot in the domain.", "mailer@example.com" },
	/* under SMTPUTF8: look-alikes that UTS #46 maps to the forms above
	 * (U+FF3B/U+FF3D brackets, U+FF11 digit one, U+3002 full stop,
	 * U+FF05 percent) are judged as what they map to */
	{ "rcpt full-width literal", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@\xef\xbc\xbb" "1.2.3.4\xef\xbc\xbd" },
	  "553 5.1.3 Recipient address not accepted for relay: IP address literal.", "mailer@example.com" },
	{ "rcpt full-width digit tld", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@127.0.0.\xef\xbc\x91" },
	  "553 5.1.3 Recipient address not accepted for relay: numeric top-level domain.", "mailer@example.com" },
	{ "rcpt ideographic full stop", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@1.2.3\xe3\x80\x82" "4" },
	  "553 5.1.3 Recipient address not accepted for relay: numeric top-level domain.", "mailer@example.com" },
	{ "rcpt ideographic trailing dot", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@example.org\xe3\x80\x82" },
	  "553 5.1.3 Recipient address not accepted for relay: trailing dot in the domain.", "mailer@example.com" },
	{ "rcpt full-width percent", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@exa\xef\xbc\x85mple.org" },
	  "553 5.1.3 Recipient address not accepted for relay: malformed domain.", "mailer@example.com" },
	{ "rcpt u-label", "203.0.113.10", "", "", 0, "mailer@example.com", { "a@b\xc3\xbc" "cher.example" },
	  "250 2.1.5 Recipient <a@b\xc3\xbc" "cher.example> ok", "mailer@example.com" },
	{ "rcpt source route", "203.0.113.10", "", "", 0, "mailer@example.com", { "@a.test:b@c.test" },
	  "553 5.1.3 Recipient address not accepted for relay: '@' inside the local part.", "mailer@example.com" },
};

static void line(const struct policy_verdict *v, char *buf, size_t n)
{
	snprintf(buf, n, "%d %s %s", v->code, v->esc, v->text);
}

static void run_case(const struct policy_lookup *lk, const struct dcase *c)
{
	struct policy_session s;
	struct policy_verdict v;
	char got[700], want[700], name[200];

	policy_session_init(&s, c->ip);
	snprintf(s.helo, sizeof s.helo, "%s", c->helo);
	snprintf(s.user, sizeof s.user, "%s", c->user);
	s.tls = c->tls;
	policy_verdict_init(&v);
	policy_decide_mail(lk, &s, c->from, &v);
	if (c->sender) {
		snprintf(name, sizeof name, "%s: sender", c->name);
		T_STREQ(name, s.mail_ok ? s.from : "(refused)", c->sender);
	}
	for (int i = 0; i < 3 && c->rcpt[i] && v.action == POLICY_ACCEPT; i++) {
		policy_verdict_init(&v);
		policy_decide_rcpt(lk, &s, c->rcpt[i], &v);
		if (v.action == POLICY_ACCEPT)
			s.nrcpt++;
	}
	line(&v, got, sizeof got);
	if (strstr(c->reply, "[%s]"))
		snprintf(want, sizeof want, c->reply, c->ip);
	else
		snprintf(want, sizeof want, "%s", c->reply);
	T_STREQ(c->name, got, want);
}

/* The user counted (limits, abuse account) is the mailbox, however its
 * local part is quoted. */
static void test_quoted_rate_user(const struct policy_lookup *lk)
{
	struct policy_session s;
	struct policy_verdict v;

	policy_session_init(&s, "198.51.100.25");
	s.tls = 1;
	policy_verdict_init(&v);
	policy_decide_mail(lk, &s, "\"mail\\er\"@example.com", &v);
	T_STREQ("quoted sender: counted as the user", s.rate_user,
		"mailer@example.com");
}

static void test_limits_and_rates(void)
{
	struct rate_limits l;
	struct policy_verdict v;
	char got[700];

	rate_limits_rules(&l, "licenses=25\npaid=yes\n", NULL);
	T_CHECK("limits: 25 licenses", l.cust_daily == 3250 && l.cust_peak == 225 &&
			l.user_msgs == 10000 && l.user_rcpts == 10000);
	rate_limits_rules(&l, "licenses=100000\npaid=yes\n", NULL);
	T_CHECK("limits: caps", l.cust_daily == 4600000 && l.cust_peak == 319444);
	rate_limits_rules(&l, "licenses=2\npaid=no\n", NULL);
	T_CHECK("limits: unpaid", l.cust_daily == 100 && l.cust_peak == 50);
	rate_limits_rules(&l, "licenses=2\npaid=yes\ndaily=7\npeak=3\nuser_messages=5\n",
		      "user_rcpts=9\n");
	T_CHECK("limits: overrides", l.cust_daily == 7 && l.cust_peak == 3 &&
			l.user_msgs == 5 && l.user_rcpts == 9);
	static const struct { enum rate_verdict r; const char *want; } rt[] = {
		{ RATE_USER_DAILY, "550 5.4.5 Daily SMTP relay limit exceeded for user." },
		{ RATE_CUST_DAILY, "550 5.7.1 Daily SMTP relay limit exceeded for customer." },
		{ RATE_CUST_PEAK, "450 4.2.1 Peak SMTP relay limit exceeded for customer." },
		{ RATE_FULL, "451 4.3.0 Rate counters unavailable, try again later." },
	};
	for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++) {
		policy_verdict_init(&v);
		policy_rate_reply(rt[i].r, &v);
		line(&v, got, sizeof got);
		T_STREQ(rt[i].want, got, rt[i].want);
	}
}

/* The override file and a replaced rules.cdb take effect at once. */
static void test_reload(struct policy_db *db, const char *dir)
{
	char path[512], got[700], text[] = "customer anyco\ndomain anyco.test customer=anyco\n"
					   "rule anyco lan senders=any auth=ip\nip anyco lan 10.1.1.2\n";
	struct policy_session s;
	struct policy_verdict v;
	struct mk m;

	snprintf(path, sizeof path, "%s/suspended", dir);
	susp_edit(path, "customer", "anyco", 1);
	policy_db_refresh(db);
	policy_session_init(&s, "10.1.1.1");
	policy_verdict_init(&v);
	policy_decide_mail(&db->lk, &s, "a@anyco.test", &v);
	line(&v, got, sizeof got);
	T_STREQ("override suspends", got, "550 5.7.1 The account of customer anyco is suspended.");
	susp_edit(path, "customer", "anyco", 0);

	mk_init(&m, "reload");
	m.quiet = 1;
	mk_parse_text(&m, "reload", text);
	mk_write(&m, cf.rules_cdb, cf.users_cdb);
	mk_free(&m);
	policy_db_refresh(db);
	policy_verdict_init(&v);
	policy_decide_mail(&db->lk, &s, "a@anyco.test", &v);
	line(&v, got, sizeof got);
	T_STREQ("reload: old address gone", got, "550 5.7.0 Mail relay denied [10.1.1.1].");
	policy_session_init(&s, "10.1.1.2");
	policy_verdict_init(&v);
	policy_decide_mail(&db->lk, &s, "a@anyco.test", &v);
	T_CHECK("reload: new address", v.code == 250);
}

/* One wake-up of relay-policy's loop deciding a MAIL of 10.1.1.2: the
 * reply code. */
static int wakeup_code(struct policy_db *db)
{
	struct policy_session s;
	struct policy_verdict v;

	policy_session_init(&s, "10.1.1.2");
	policy_db_batch_next(db);
	policy_db_refresh(db);
	policy_verdict_init(&v);
	policy_decide_mail(&db->lk, &s, "a@anyco.test", &v);
	return v.code;
}

/* relay-policy's loop (db->batch): the files are looked at after the
 * watch said one of them changed, or once the last look is a second
 * old; not at every wake-up.  Runs after test_reload: 10.1.1.2 is
 * customer anyco's address, anyco not suspended. */
static void test_watch(struct policy_db *db, const char *dir)
{
	char path[512];
	struct pollfd pf = { .fd = policy_db_fd(db), .events = POLLIN };

	T_CHECK("watch: the folder is watched", pf.fd >= 0);
	db->batch = 1;
	wakeup_code(db);
	snprintf(path, sizeof path, "%s/suspended", dir);
	susp_edit(path, "customer", "anyco", 1);
	T_CHECK("watch: no event read, last look recent: not looked at",
		wakeup_code(db) == 250);
	T_CHECK("watch: the change is announced", poll(&pf, 1, 2000) == 1);
	policy_db_events(db);
	T_CHECK("watch: after the event, the suspension holds",
		wakeup_code(db) == 550);
	susp_edit(path, "customer", "anyco", 0);
	policy_db_events(db);
	T_CHECK("watch: lifted again", wakeup_code(db) == 250);
	/* an event that was not read (as if lost): the look a second on */
	susp_edit(path, "customer", "anyco", 1);
	usleep((POLICY_DB_NET_MS + 100) * 1000);
	T_CHECK("watch: without the event, seen within a second",
		wakeup_code(db) == 550);
	susp_edit(path, "customer", "anyco", 0);
	db->batch = 0;
}

/* makecdb allows RK_IP_RULES_MAX rules on one address (test_makecdb):
 * relay-policy sees every one of them, the last one included.  The name
 * is the longest makecdb takes; only the last rule accepts the sender. */
static void test_rules_per_address(struct policy_db *db)
{
	char cust[MK_NAMEMAX], got[700], want[700];
	size_t cap = RK_IP_RULES_MAX * 2 * 160 + 200, n = 0;
	char *text = malloc(cap);
	struct policy_session s;
	struct policy_verdict v;
	struct mk m;

	memset(cust, 'c', sizeof cust - 1);
	cust[sizeof cust - 1] = '\0';
	n += (size_t)snprintf(text, cap, "customer %s\ndomain shared.test "
			      "customer=%s\n", cust, cust);
	for (int i = 0; i < RK_IP_RULES_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n,
			"rule %s r%d senders=%s auth=ip\nip %s r%d 10.5.5.5\n",
			cust, i, i + 1 < RK_IP_RULES_MAX ? "registered" : "domain",
			cust, i);
	mk_init(&m, "many");
	m.quiet = 1;
	mk_parse_text(&m, "many", text);
	mk_check(&m);
	T_CHECK("rules per address: compiled", m.errors == 0 &&
		mk_write(&m, cf.rules_cdb, cf.users_cdb) == 0);
	mk_free(&m);
	free(text);
	policy_db_refresh(db);
	policy_session_init(&s, "10.5.5.5");
	policy_verdict_init(&v);
	policy_decide_mail(&db->lk, &s, "x@shared.test", &v);
	line(&v, got, sizeof got);
	snprintf(want, sizeof want, "250 2.1.0 Sender <x@shared.test> ok "
		 "(rule %s/r%d)", cust, RK_IP_RULES_MAX - 1);
	T_STREQ("rules per address: the last rule still matches", got, want);
}

int main(void)
{
	char dir[] = "/tmp/test_policy_decide.XXXXXX", path[512], *text;
	struct policy_db db;
	struct mk m;

	if (!mkdtemp(dir))
		return 1;
	settings_load(dir);
	text = strdup(rules);
	mk_init(&m, "rules");
	m.quiet = 1;
	T_CHECK("rules compile", mk_parse_text(&m, "rules", text) == 0);
	mk_check(&m);
	T_CHECK("rules: no errors", m.errors == 0);
	T_CHECK("rules written", mk_write(&m, cf.rules_cdb, cf.users_cdb) == 0);
	mk_free(&m);
	free(text);
	snprintf(path, sizeof path, "%s/suspended", dir);
	T_CHECK("db open", policy_db_open(&db, cf.rules_cdb, cf.users_cdb, path) == 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&db.lk, &cases[i]);
	test_quoted_rate_user(&db.lk);
	test_limits_and_rates();
	test_reload(&db, dir);
	test_watch(&db, dir);
	test_rules_per_address(&db);
	policy_db_close(&db);
	unlink(cf.rules_cdb);
	unlink(cf.users_cdb);
	unlink(path);
	rmdir(dir);
	return t_done();
}
