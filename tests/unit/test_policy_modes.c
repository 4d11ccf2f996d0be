// links: policy/policy_decide.c policy/policy_match.c policy/policy_rcpt.c policy/policy_db.c conf/makecdb_lex.c conf/makecdb_parse.c conf/makecdb_check.c conf/makecdb_write.c conf/mkfile.c conf/makecdb_dkim.c
/* test_policy_modes.c: every mode combination of a rule (senders x auth x
 * tls) against every session (address listed, not listed, or listed by
 * another customer only; AUTH or not, TLS or not) and every kind of
 * sender (registered user, other address of the domain, foreign, null):
 * 18 x 12 x 4 = 864 decisions, each asserting the
 * full reply line and the envelope sender.  The expected answer is
 * written straight from doc/BEHAVIOUR.md §2 (expect() below), independently of
 * policy_decide.c's structure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../conf/makecdb.h"
#include "../../policy/policy_decide.h"
#include "settings.h"
#include "t.h"

#define H "$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74"

static const char *const senders[] = { "registered", "domain", "any" };
static const char *const auths[] = { "ip", "smtp", "both" };
enum kind { K_REG, K_DOM, K_FOREIGN, K_NULL };

/* customer m<i> owns m<i>.test, user u@m<i>.test, one rule r listing
 * 10.0.<i>.1; i = senders*6 + auth*2 + tls */
static char *rules_text(void)
{
	size_t cap = 64 * 1024, n = 0;
	char *t = malloc(cap);

	for (int i = 0; i < 18; i++)
		n += (size_t)snprintf(t + n, cap - n,
			"customer m%d\ndomain m%d.test customer=m%d\n"
			"user u@m%d.test hash=" H "\n"
			"rule m%d r senders=%s auth=%s tls=%s\nip m%d r 10.0.%d.1\n",
			i, i, i, i, i, senders[i / 6], auths[(i / 2) % 3],
			i % 2 ? "yes" : "no", i, i);
	return t;
}

static const char INV[] = "550 5.7.1 Invalid credentials for relay [%s]. The IP "
	"address is registered, but not for the domain this mail is sent from; use "
	"SMTP AUTH or present one of your domains in HELO/EHLO.";

/* doc/BEHAVIOUR.md §2 for one rule, no HELO domain: the reply line and sender. */
static void expect(int i, int listed, int other, int authed, int tls,
		   enum kind k, const char *ip, const char *from, char *want,
		   char *sender)
{
	int s = i / 6, a = (i / 2) % 3, rtls = i % 2 || a > 0;
	int found = authed || k == K_REG || k == K_DOM;
	int ipok = a == 1 || listed, authok = a == 0 || authed;

	*sender = '\0';
	if (!authed && !listed && !other) {
		sprintf(want, "550 5.7.0 Mail relay denied [%s].", ip);
		return;
	}
	if (!found) { /* foreign or null sender, no AUTH, no HELO domain */
		sprintf(want, INV, ip);
		return;
	}
	if (other && !authed) { /* registered, but to another customer */
		sprintf(want, INV, ip);
		return;
	}
	if (!(ipok && authok && (!rtls || tls))) {
		if (ipok && rtls && !tls)
			sprintf(want, "530 5.7.0 Must issue a STARTTLS command first.");
		else if (ipok && !authok)
			sprintf(want, "530 5.7.0 Authentication required.");
		else
			sprintf(want, INV, ip);
		return;
	}
	if (k == K_DOM && s == 0) {
		sprintf(want, "550 5.7.1 Sender <%s> refused by rule m%d/r "
			"(senders=registered): not a registered user.", from, i);
		return;
	}
	if (k == K_FOREIGN && s != 2) {
		sprintf(want, "550 5.7.1 Sender <%s> refused by rule m%d/r "
			"(senders=%s): foreign.test is not a domain of customer m%d.",
			from, i, senders[s], i);
		return;
	}
	if (k == K_FOREIGN || k == K_NULL)
		sprintf(sender, "postmaster@m%d.test", i);
	else
		strcpy(sender, from);
	sprintf(want, "250 2.1.0 Sender <%s> ok (rule m%d/r)", sender, i);
}

static void run(const struct policy_lookup *lk, int i, int combo, enum kind k)
{
	int listed = combo & 1, authed = combo & 2, tls = combo & 4;
	int other = combo & 8;
	char ip[32], from[64], want[600], sender[64], got[600], name[160];
	static const char *const kn[] = { "registered", "domain", "foreign", "null" };
	struct policy_session s;
	struct policy_verdict v;

	/* other: the address of customer m<i+1>'s rule */
	snprintf(ip, sizeof ip, listed || other ? "10.0.%d.1" : "10.9.%d.1",
		 other ? (i + 1) % 18 : i);
	if (k == K_REG)
		snprintf(from, sizeof from, "u@m%d.test", i);
	else if (k == K_DOM)
		snprintf(from, sizeof from, "other@m%d.test", i);
	else if (k == K_FOREIGN)
		snprintf(from, sizeof from, "x@foreign.test");
	else
		from[0] = '\0';
	policy_session_init(&s, ip);
	snprintf(s.helo, sizeof s.helo, "client.example");
	if (authed)
		snprintf(s.user, sizeof s.user, "u@m%d.test", i);
	s.tls = tls != 0;
	policy_verdict_init(&v);
	policy_decide_mail(lk, &s, from, &v);
	snprintf(got, sizeof got, "%d %s %s", v.code, v.esc, v.text);
	expect(i, listed, other, authed, tls, k, ip, from, want, sender);
	snprintf(name, sizeof name, "senders=%s auth=%s tls=%s | %s %s %s | %s sender",
		 senders[i / 6], auths[(i / 2) % 3], i % 2 ? "yes" : "no",
		 listed ? "listed" : other ? "another's" : "unlisted",
		 authed ? "auth" : "noauth",
		 tls ? "tls" : "plain", kn[k]);
	T_STREQ(name, got, want);
	if (*sender && v.action == POLICY_ACCEPT && strcmp(s.from, sender) != 0)
		T_STREQ(name, s.from, sender);
}

int main(void)
{
	char dir[] = "/tmp/test_policy_modes.XXXXXX", path[512], *text;
	struct policy_db db;
	struct mk m;

	if (!mkdtemp(dir))
		return 1;
	settings_load(dir);
	text = rules_text();
	mk_init(&m, "modes");
	m.quiet = 1;
	mk_parse_text(&m, "modes", text);
	mk_check(&m);
	T_CHECK("modes: rules compile", m.errors == 0 &&
			mk_write(&m, cf.rules_cdb, cf.users_cdb) == 0);
	mk_free(&m);
	free(text);
	snprintf(path, sizeof path, "%s/suspended", dir);
	if (policy_db_open(&db, cf.rules_cdb, cf.users_cdb, path) < 0)
		return 1;
	for (int i = 0; i < 18; i++)
		for (int combo = 0; combo < 16; combo++)
			for (int k = 0; k < 4 && !((combo & 9) == 9); k++)
				run(&db.lk, i, combo, (enum kind)k);
	policy_db_close(&db);
	unlink(cf.rules_cdb);
	unlink(cf.users_cdb);
	rmdir(dir);
	return t_done();
}
