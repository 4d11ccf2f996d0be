// links: conf/makecdb_lex.c conf/makecdb_parse.c conf/makecdb_check.c conf/makecdb_write.c conf/mkfile.c conf/makecdb_dkim.c
/* test_makecdb.c: every makecdb error and warning with its line and
 * column, the boundary of the 65,536-address rule, and the keys written. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../conf/makecdb.h"
#include "rcdb.h"
#include "rulekeys.h"
#include "t.h"

#define H "$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74"
/* three lines every case starts with; a case's own text is line 4 on */
#define BASE "customer acme\ndomain example.com customer=acme\n" \
	     "rule acme lan senders=domain auth=ip\nip acme lan 192.0.2.1\n"

struct mcase {
	const char *text;    /* appended to BASE (starts at line 5) */
	int errors, warnings;
	const char *diag;    /* expected in the diagnostics */
};

static const struct mcase cases[] = {
	{ "", 0, 0, "" },
	{ "frobnicate x", 1, 0, "t:5:1: error: unknown statement \"frobnicate\"" },
	{ "customer acme", 1, 0, "t:5:10: error: customer \"acme\" already declared at line 1" },
	{ "customer Bad!name", 1, 0, "t:5:10: error: bad customer name \"bad!name\"" },
	{ "customer x licenses=abc", 1, 0, "t:5:21: error: bad value \"abc\" for licenses (a number >= 0)" },
	{ "customer x paid=maybe", 1, 0, "t:5:17: error: bad value \"maybe\" for paid" },
	{ "customer x licenses=1 licenses=2", 1, 0, "t:5:23: error: licenses given twice" },
	{ "customer x color=red", 1, 0, "t:5:12: error: unexpected \"color=red\" (unknown option)" },
	{ "customer x stray", 1, 0, "t:5:12: error: unexpected \"stray\"" },
	{ "customer x concurrency=-1", 1, 0, "t:5:24: error: bad value \"-1\" for concurrency (a number >= 0)" },
	{ "customer x scan=maybe", 1, 0, "t:5:17: error: bad value \"maybe\" for scan" },
	{ "customer x scan_score=-3", 1, 0, "t:5:23: error: bad value \"-3\" for scan_score" },
	{ "customer x admin=not-a-mailbox", 1, 0, "t:5:10: error: admin=not-a-mailbox: not a mailbox" },
	{ "customer x scan=reject scan_score=9 admin=ops@x.test", 0, 2, "t:5:1: warning: customer x has no domain" },
	{ "domain example.com customer=acme", 0, 1, "t:5:8: warning: domain example.com claimed twice (also line 2)" },
	{ "customer b\ndomain b.test customer=b\nrule b r senders=domain auth=ip\nip b r 192.0.2.9\ndomain Example.COM customer=b", 1, 0,
	  "t:9:8: error: domain example.com already belongs to customer acme (line 2); a domain has exactly one customer" },
	{ "domain example.net. customer=acme", 1, 0, "t:5:19: error: trailing dot in domain \"example.net.\"" },
	{ "domain exa..mple.com customer=acme", 1, 0, "t:5:8: error: bad domain \"exa..mple.com\"" },
	/* relay-queue looks DKIM keys up by the A-label, relay-policy
	 * senders and HELO names as written: a U-label would split them */
	{ "domain b\xc3\xbc" "cher.example customer=acme", 1, 0, "t:5:8: error: domain \"b\xc3\xbc"
	  "cher.example\": write its A-label xn--bcher-kva.example (an internationalised domain is declared in ASCII)" },
	{ "dkim b\xc3\xbc" "cher.example sel alg=ed25519", 1, 0, "t:5:6: error: domain \"b\xc3\xbc"
	  "cher.example\": write its A-label xn--bcher-kva.example" },
	{ "domain \xff.example customer=acme", 1, 0, "t:5:8: error: bad domain" },
	{ "domain xn--bcher-kva.example customer=acme", 0, 0, "" },
	{ "domain foo.test customer=nobody", 1, 0, "t:5:17: error: unknown customer \"nobody\"" },
	{ "domain foo.test", 1, 0, "t:5:1: error: customer= is required here" },
	{ "user bob@example.com hash=plain", 1, 0, "t:5:6: error: hash for bob@example.com must be a yescrypt ($y$) or SHA-512 ($6$) crypt hash" },
	{ "user bob@example.com hash=$1$abcdefgh$0123456789abcdefghijkl", 1, 0, "t:5:6: error: hash for bob@example.com must be" },
	{ "user a%b@example.com hash=" H, 1, 0, "t:5:6: error: bad user address \"a%b@example.com\"" },
	{ "user bob@example.com", 1, 0, "t:5:1: error: hash= is required here" },
	{ "user bob@other.test hash=" H, 1, 0, "t:5:6: error: user bob@other.test: its domain belongs to no customer" },
	{ "customer b\ndomain b.test customer=b\nrule b r senders=domain auth=ip\nip b r 192.0.2.9\nuser bob@example.com hash=" H " customer=b", 1, 0,
	  "t:9:6: error: user bob@example.com is given to customer b but its domain belongs to customer acme" },
	{ "user bob@other.test hash=" H " customer=acme", 0, 1, "t:5:6: warning: user bob@other.test: domain other.test is not declared; "
	  "the user can log in (SMTP AUTH) for customer acme, but as a sender its address is foreign: rewritten to postmaster@example.com under senders=any, refused otherwise" },
	{ "customer x\nrule x r senders=any auth=smtp\nuser bob@other.test hash=" H " customer=x", 0, 3,
	  "t:7:6: warning: user bob@other.test: domain other.test is not declared; the user can log in (SMTP AUTH) for customer x, which has no domain: "
	  "its null and foreign senders, its own address included, are refused" },
	{ "user bob@example.com hash=" H "\nuser BOB@example.com hash=" H, 1, 0, "t:6:6: error: user bob@example.com already declared at line 5" },
	{ "rule acme lan senders=domain auth=ip", 1, 0, "t:5:11: error: rule lan of customer acme already declared" },
	{ "rule acme x senders=some auth=ip", 1, 0, "t:5:21: error: bad value \"some\" for senders" },
	{ "rule acme x auth=ip", 1, 0, "t:5:1: error: senders= is required here" },
	{ "rule acme x senders=any auth=smtp", 0, 1, "t:5:13: warning: rule acme/x: senders=any relays for any sender address (not recommended)" },
	{ "rule acme x senders=domain auth=both", 0, 1, "t:5:1: warning: rule acme/x has auth=both but no enabled address: it never matches" },
	{ "rule nobody x senders=domain auth=ip", 1, 0, "t:5:6: error: unknown customer \"nobody\"" },
	{ "ip acme nope 10.0.0.1", 1, 0, "t:5:9: error: unknown rule nope of customer acme" },
	{ "ip acme lan 10.0.0.0/15", 1, 0, "t:5:13: error: range 10.0.0.0/15 holds 2^17 addresses; at most an IPv4 /16 or an IPv6 /64 (one LAN) is allowed" },
	{ "ip acme lan 10.0.0.0/16", 0, 0, "" },
	{ "ip acme lan 2001:db8::/112", 0, 0, "" },
	{ "ip acme lan 2001:db8::/64", 0, 0, "" },
	{ "ip acme lan 2001:db8::/63", 1, 0, "t:5:13: error: range 2001:db8::/63 holds 2^65 addresses; at most an IPv4 /16 or an IPv6 /64" },
	{ "ip acme lan 2001:db8::/48 disabled", 1, 0, "t:5:13: error: range 2001:db8::/48 holds 2^80" },
	{ "ip acme lan ::/64", 1, 0, "t:5:13: error: range ::/64 holds 2^64 addresses including IPv4-mapped ones" },
	{ "ip acme lan ::ffff:0:0/96", 1, 0, "t:5:13: error: range ::ffff:0:0/96 holds 2^32 addresses; at most an IPv4 /16" },
	{ "ip acme lan ::ffff:10.0.0.0/112", 0, 0, "" },
	{ "ip acme lan 10.0.0.1/24", 1, 0, "t:5:13: error: bad address or range \"10.0.0.1/24\" (host bits set?)" },
	{ "ip acme lan 300.1.1.1", 1, 0, "t:5:13: error: bad address or range \"300.1.1.1\"" },
	{ "ip acme lan 10.0.0.0/8 disabled", 1, 0, "t:5:13: error: range 10.0.0.0/8 holds 2^24" },
	{ "ip acme lan 10.0.0.1 enabled=maybe", 1, 0, "t:5:30: error: bad value \"maybe\" for enabled" },
	{ "customer b\ndomain b.test customer=b\nrule b r senders=domain auth=ip\nip acme lan 10.1.0.0/24\nip b r 10.1.0.128/25", 0, 1,
	  "t:9:8: warning: address range overlaps customer acme's (line 8)" },
	{ "customer b\ndomain b.test customer=b\nrule b r senders=domain auth=ip\nip b r 192.0.2.1", 0, 1,
	  "t:8:8: warning: address range also listed by customer acme (line 4): both may relay from it, each for the clients identified as its own (AUTH, HELO/EHLO or sender)" },
	{ "customer b\ndomain b.test customer=b\nrule b r senders=domain auth=ip\nip b r 192.0.2.0/24", 0, 1,
	  "t:4:13: warning: address range overlaps customer b's (line 8): the longest prefix decides" },
	{ "route rcpt example.org [mx.example.org]:99999", 1, 0, "t:5:24: error: bad destination \"[mx.example.org]:99999\"" },
	{ "route sideways x mx", 1, 0, "t:5:7: error: usage: route rcpt|sender DOMAIN DEST, or route default DEST" },
	{ "route default mx\nroute default [smart.example.net]:587", 1, 0, "t:6:7: error: route already given at line 5" },
	{ "route rcpt example.org mx tls=sometimes", 1, 0, "t:5:31: error: bad value \"sometimes\" for tls" },
	{ "route sender example.com mx auth=../etc", 1, 0, "t:5:1: error: auth= names a file under secrets/" },
	{ "route rcpt example.org. mx", 1, 0, "t:5:23: error: trailing dot in domain" },
	{ "route rcpt \xe2\x98\x83.test mx", 1, 0, "t:5:12: error: domain \"\xe2\x98\x83.test\" has no A-label (IDNA: " },
	{ "route default [smart.example.net]:587 tls=encrypt auth=isp auth_tls=unverified", 0, 1,
	  "t:5:1: warning: auth_tls=unverified: the credentials auth=isp go to any server that answers with any certificate" },
	{ "route default [smart.example.net]:587 tls=verify auth=isp auth_tls=unverified", 0, 0, "" },
	{ "route default [smart.example.net]:587 tls=encrypt auth_tls=unverified", 1, 0,
	  "t:5:1: error: auth_tls= without auth=: there are no credentials to send" },
	{ "route default [smart.example.net]:587 auth=isp auth_tls=sometimes", 1, 0,
	  "t:5:57: error: bad value \"sometimes\" for auth_tls" },
	{ "route default [smart.example.net]:587 tls=may auth=isp", 0, 0, "" },
	/* credentials for whatever MX each recipient's domain names */
	{ "route default mx auth=isp", 1, 0,
	  "t:5:15: error: auth=isp needs a fixed host (relayhost or [host]:port): with mx the credentials would go to every recipient domain's MX" },
	{ "route sender example.com mx tls=verify auth=isp", 1, 0,
	  "t:5:26: error: auth=isp needs a fixed host" },
	/* implicit TLS: a fixed host, never a fall-back to plain text */
	{ "route default mx tls_wrap=yes", 1, 0,
	  "t:5:15: error: tls_wrap=yes needs a fixed host ([host]:465): MX hosts take plain SMTP and STARTTLS on port 25" },
	{ "route rcpt example.org mx tls=verify tls_wrap=yes", 1, 0, "t:5:24: error: tls_wrap=yes needs a fixed host" },
	{ "route sender example.com [smtp.example.net]:465 tls=may tls_wrap=yes", 1, 0,
	  "t:5:49: error: tls_wrap=yes with tls=may: implicit TLS never falls back to plain text" },
	{ "route default [smtp.example.net] tls_wrap=maybe", 1, 0, "t:5:43: error: bad value \"maybe\" for tls_wrap" },
	{ "route default [smtp.example.net] tls_wrap", 1, 0, "t:5:34: error: unexpected \"tls_wrap\"" },
	{ "route default [smtp.example.net] tls_wrap=yes tls_wrap=no", 1, 0, "t:5:47: error: tls_wrap given twice" },
	{ "route default [smtp.example.net]:465 tls=encrypt tls_wrap=yes auth=isp auth_tls=unverified", 0, 1,
	  "t:5:1: warning: auth_tls=unverified: the credentials auth=isp go to any server" },
	{ "route default [smtp.example.net]:465 tls_wrap=yes auth=isp auth_tls=unverified", 0, 0, "" },
	{ "route default [smtp.example.net] tls_wrap=no tls=may", 0, 0, "" },
	{ "customer lonely", 0, 2, "t:5:1: warning: customer lonely has no domain" },
	/* 0 is no limit (relay.conf's convention): said at every 0 */
	{ "customer x daily=0", 0, 3, "t:5:12: warning: daily=0 means no limit for customer x; "
	  "to stop mail, suspend instead (suspended=yes or relayctl suspend)" },
	{ "customer x daily=1 peak=0", 0, 3, "t:5:20: warning: peak=0 means no limit for customer x" },
	{ "customer x user_messages=00 user_rcpts=0", 0, 4, "t:5:29: warning: user_rcpts=0 means no limit for the users of customer x" },
	{ "customer x licenses=0", 0, 3, "t:5:12: warning: licenses=0 counts as 1 license for customer x (its limits scale with it); "
	  "to stop mail, suspend instead (suspended=yes or relayctl suspend)" },
	{ "customer x licenses=0 paid=no", 0, 3, "t:5:12: warning: licenses=0 counts as 1 license" },
	{ "user bob@example.com hash=" H " user_messages=0", 0, 1, "t:5:101: warning: user_messages=0 means no limit for user bob@example.com; "
	  "to stop mail, suspend instead (suspended=yes or relayctl suspend)" },
	{ "user bob@example.com hash=" H " user_rcpts=0", 0, 1, "warning: user_rcpts=0 means no limit for user bob@example.com" },
	{ "customer x daily=1 peak=1 user_messages=1 user_rcpts=1 licenses=1", 0, 2, "t:5:1: warning: customer x has no domain" },
	{ "customer \x01x", 1, 0, "t:5:10: error: control character in rules" },
	/* comments too: relayctl rules diff shows them to root's terminal */
	{ "# \x1b]0;owned\x07\x1b[2J red", 1, 0, "t:5:3: error: control character in rules" },
	{ "ip acme lan 192.0.2.2 # trailing \r", 1, 0, "t:5:34: error: control character in rules" },
	{ "#\x7f", 1, 0, "t:5:2: error: control character in rules" },
	{ "#\tcomment\twith tabs and \xc3\xa9", 0, 0, "" },
	{ "customer x archive=nobody", 1, 0, "t:5:12: error: bad archive=nobody (an address, or \"maildir\" for the customer's folder)" },
	{ "customer x archive=a@b@c.test", 1, 0, "t:5:12: error: bad archive=a@b@c.test" },
	{ "customer x archive=", 1, 0, "t:5:12: error: bad archive= (an address" },
	{ "customer x archive=j@archive.test archive_keep=3", 1, 0, "t:5:35: error: archive_keep= needs archive=maildir" },
	{ "customer x archive_keep=3", 1, 0, "t:5:12: error: archive_keep= needs archive=maildir" },
	{ "customer x archive=maildir archive_keep=99999", 1, 0, "t:5:28: error: archive_keep=99999 is over 36500 days" },
	{ "customer x archive=maildir archive_keep=-1", 1, 0, "t:5:41: error: bad value \"-1\" for archive_keep (a number >= 0)" },
	{ "customer .x archive=maildir", 1, 0, "t:5:10: error: customer .x: a name starting with a dot cannot have archive=maildir" },
	{ "customer x archive=maildir archive_keep=30", 0, 2, "t:5:1: warning: customer x has no domain" },
	{ "customer x archive=j@archive.test", 0, 2, "t:5:1: warning: customer x has no domain" },
};

static char *run(const char *text, struct mk *m, int write_dir, const char *dir)
{
	static char *out;
	size_t len;
	FILE *f;
	char *buf = malloc(strlen(BASE) + strlen(text) + 2), rp[512], up[512];

	free(out);
	out = NULL;
	f = open_memstream(&out, &len);
	sprintf(buf, "%s%s\n", BASE, text);
	mk_init(m, "t");
	m->diag = f;
	mk_parse_text(m, "t", buf);
	if (!m->errors)
		mk_check(m);
	if (write_dir && !m->errors) {
		snprintf(rp, sizeof rp, "%s/rules.cdb", dir);
		snprintf(up, sizeof up, "%s/users.cdb", dir);
		mk_write(m, rp, up);
	}
	fclose(f);
	free(buf);
	return out;
}

/* BASE's rule lan lists 192.0.2.1; n more rules r<i> list `range`, then
 * the diagnostics (the caller frees m). */
static char *many_rules(int n, const char *range, struct mk *m)
{
	size_t cap = (size_t)n * 128 + 1, len = 0;
	char *text = malloc(cap), *out;

	text[0] = '\0';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len,
			"rule acme r%d senders=domain auth=ip\nip acme r%d %s\n",
			i, i, range);
	if (len)
		text[len - 1] = '\0';
	out = run(text, m, 0, NULL);
	free(text);
	return out;
}

/* relay-policy matches at most RK_IP_RULES_MAX rules per address (all
 * the ranges holding it together): makecdb refuses more, naming the
 * line of the first one too many. */
static void test_rules_per_address(void)
{
	struct mk m;
	char *out, want[200];

	many_rules(RK_IP_RULES_MAX - 1, "192.0.2.1", &m);
	T_CHECK("rules per address: the limit is allowed", m.errors == 0);
	mk_free(&m);
	out = many_rules(RK_IP_RULES_MAX, "192.0.2.1", &m);
	snprintf(want, sizeof want, "t:%d:13: error: address 192.0.2.1 is "
		 "listed by more than %d enabled rules", 4 + 2 * RK_IP_RULES_MAX,
		 RK_IP_RULES_MAX);
	T_CHECK("rules per address: one more is an error, on its line",
		m.errors == 1 && strstr(out, want));
	if (!strstr(out, want))
		printf("   got:\n%s", out);
	mk_free(&m);
	/* 192.0.2.1 in lan's /32 and in the /24 of every r<i> */
	out = many_rules(RK_IP_RULES_MAX, "192.0.2.0/24", &m);
	snprintf(want, sizeof want, "t:4:13: error: address 192.0.2.1 is "
		 "listed by more than %d enabled rules", RK_IP_RULES_MAX);
	T_CHECK("rules per address: nested ranges count together",
		m.errors == 1 && strstr(out, want));
	if (!strstr(out, want))
		printf("   got:\n%s", out);
	mk_free(&m);
}

static void test_written(const char *dir)
{
	struct mk m;
	struct rcdb r;
	struct cidr c;
	char path[512], val[RK_VALMAX], key[RK_KEYMAX];

	run("ip acme lan 10.0.0.0/16\nip acme lan 2001:DB8::5\nuser Bob@Example.com hash=" H
	    "\nroute rcpt Example.ORG [mx.example.org]:2525 tls=verify\nroute default mx"
	    "\nroute rcpt .b\xc3\xbc" "cher.test mx"
	    "\nroute sender wrap.test [smtp.example.net] tls_wrap=yes auth=up"
	    "\nroute sender wrap465.test [smtp.example.net]:2465 tls=encrypt tls_wrap=yes"
	    "\nroute sender plain.test [smtp.example.net] tls_wrap=no"
	    "\ncustomer b archive=maildir archive_keep=30\ndomain b.test customer=b"
	    "\ncustomer c archive=j@archive.test\ndomain c.test customer=c"
	    "\ncustomer busy concurrency=3"
	    "\ncustomer scanned scan=score scan_score=12 admin=Ops@Example.COM",
	    &m, 1, dir);
	mk_free(&m);
	snprintf(path, sizeof path, "%s/rules.cdb", dir);
	T_CHECK("cdb: open rules", rcdb_init(&r, path) == 0 && r.fd >= 0);
	T_CHECK("cdb: domain key", rcdb_gets(&r, "domain:example.com", val, sizeof val) > 0 &&
			!strcmp(val, "customer=acme\n"));
	T_CHECK("cdb: ipbits", rcdb_gets(&r, "ipbits", val, sizeof val) > 0 &&
			!strcmp(val, "bits=128 112\n"));
	cidr_parse("10.0.0.0/16", &c);
	rk_ip(&c, key, sizeof key);
	T_STREQ("cdb: ip key", key, "ip:112:00000000000000000000ffff0a000000");
	T_CHECK("cdb: ip value", rcdb_gets(&r, key, val, sizeof val) > 0 && !strcmp(val, "rule=acme:0\n"));
	T_CHECK("cdb: route lowercased", rcdb_gets(&r, "route:rcpt:example.org", val, sizeof val) > 0 &&
			!strcmp(val, "host=mx.example.org\nport=2525\ntls=verify\nauth=\nauth_tls=verify\n"));
	T_CHECK("cdb: tls_wrap: port 465 and tls=verify when not given",
		rcdb_gets(&r, "route:sender:wrap.test", val, sizeof val) > 0 &&
		!strcmp(val, "host=smtp.example.net\nport=465\ntls=verify\nauth=up\n"
			     "auth_tls=verify\n" RK_ROUTE_TLS_WRAP "=yes\n"));
	T_CHECK("cdb: tls_wrap: the port and tls= given are kept",
		rcdb_gets(&r, "route:sender:wrap465.test", val, sizeof val) > 0 &&
		!strcmp(val, "host=smtp.example.net\nport=2465\ntls=encrypt\nauth=\n"
			     "auth_tls=verify\ntls_wrap=yes\n"));
	T_CHECK("cdb: tls_wrap=no writes what a route without it does",
		rcdb_gets(&r, "route:sender:plain.test", val, sizeof val) > 0 &&
		!strcmp(val, "host=smtp.example.net\nport=25\ntls=may\nauth=\n"
			     "auth_tls=verify\n"));
	T_CHECK("cdb: a U-label route's key is its A-label",
		rcdb_gets(&r, "route:rcpt:.xn--bcher-kva.test", val, sizeof val) > 0);
	T_CHECK("cdb: default route", rcdb_gets(&r, "route:default", val, sizeof val) > 0 &&
			!strcmp(val, "host=\nport=\ntls=may\nauth=\nauth_tls=verify\n"));
	T_CHECK("cdb: archive to a maildir with its retention",
		rcdb_gets(&r, "customer:b", val, sizeof val) > 0 &&
		strstr(val, "\narchive=maildir\narchive_keep=30\n"));
	T_CHECK("cdb: archive to an address, no retention",
		rcdb_gets(&r, "customer:c", val, sizeof val) > 0 &&
		strstr(val, "\narchive=j@archive.test\n") &&
		!strstr(val, "archive_keep"));
	T_CHECK("cdb: a customer's first domain",
		rcdb_gets(&r, "customer:acme", val, sizeof val) > 0 &&
		strstr(val, "\n" RK_CUST_DOMAIN "=example.com\n"));
	T_CHECK("cdb: no domain line for a customer without one",
		rcdb_gets(&r, "customer:busy", val, sizeof val) > 0 &&
		!strstr(val, RK_CUST_DOMAIN "="));
	T_CHECK("cdb: no archive line without archive=",
		rcdb_gets(&r, "customer:acme", val, sizeof val) > 0 &&
		!strstr(val, "archive"));
	T_CHECK("cdb: a customer's concurrency",
		rcdb_gets(&r, "customer:busy", val, sizeof val) > 0 &&
		rk_num(val, RK_CUST_CONCURRENCY, 0) == 3);
	T_CHECK("cdb: no concurrency line when none given",
		rcdb_gets(&r, "customer:acme", val, sizeof val) > 0 &&
		!strstr(val, RK_CUST_CONCURRENCY));
	T_CHECK("cdb: customer without scan= says nothing of it",
		rcdb_gets(&r, "customer:acme", val, sizeof val) > 0 &&
		!strstr(val, "scan") && !strstr(val, "admin"));
	T_CHECK("cdb: customer scan, score, admin (lowercased)",
		rcdb_gets(&r, "customer:scanned", val, sizeof val) > 0 &&
		strstr(val, "\nscan=score\nscan_score=12\nadmin=ops@example.com\n"));
	T_CHECK("cdb: no trailing NUL keys", rcdb_get(&r, "domain:example.com", 19, val, sizeof val) == -1);
	rcdb_close(&r);
	snprintf(path, sizeof path, "%s/users.cdb", dir);
	T_CHECK("cdb: open users", rcdb_init(&r, path) == 0 && r.fd >= 0);
	T_CHECK("cdb: user lowercased with hash", rcdb_gets(&r, "user:bob@example.com", val, sizeof val) > 0 &&
			strstr(val, "hash=" H "\n") && strstr(val, "customer=acme\n"));
	rcdb_close(&r);
}

/* A disabled rule listing the same range as an enabled one, after it in
 * the file: the range keeps its own key and rule= lines, and the next
 * range (another customer's) gets none of them. */
static void test_disabled_same_range(const char *dir)
{
	char text[] =
		"customer acme\ndomain acme.example customer=acme\n"
		"customer beta\ndomain beta.example customer=beta\n"
		"rule acme office senders=any auth=ip\nip acme office 192.0.2.5\n"
		"rule acme old senders=any auth=ip enabled=no\n"
		"ip acme old 192.0.2.5\n"
		"rule beta lan senders=domain auth=ip\n"
		"ip beta lan 198.51.100.0/24\n";
	char rp[512], up[512], key[RK_KEYMAX], val[RK_VALMAX] = "";
	struct mk m;
	struct rcdb r;
	struct cidr c;

	snprintf(rp, sizeof rp, "%s/rules.cdb", dir);
	snprintf(up, sizeof up, "%s/users.cdb", dir);
	mk_init(&m, "t");
	m.diag = stderr;
	mk_parse_text(&m, "t", text);
	mk_check(&m);
	T_CHECK("disabled same range: no errors", m.errors == 0 &&
		mk_write(&m, rp, up) == 0);
	mk_free(&m);
	T_CHECK("disabled same range: open rules", rcdb_init(&r, rp) == 0);
	cidr_parse("192.0.2.5", &c);
	rk_ip(&c, key, sizeof key);
	T_CHECK("disabled same range: the range keeps its key, enabled rule only",
		rcdb_gets(&r, key, val, sizeof val) > 0 &&
		!strcmp(val, "rule=acme:0\n"));
	cidr_parse("198.51.100.0/24", &c);
	rk_ip(&c, key, sizeof key);
	val[0] = '\0';
	T_CHECK("disabled same range: the next range holds its own rule only",
		rcdb_gets(&r, key, val, sizeof val) > 0 &&
		!strcmp(val, "rule=beta:0\n"));
	if (strcmp(val, "rule=beta:0\n"))
		printf("   got: %s", val);
	rcdb_close(&r);
}

/* Names another uid may have planted in the output folder (the old
 * temp names, <path>.tmp.<pid>, as links to a file of root's): never
 * followed; and a folder reached through a link is refused. */
static void test_planted_links(const char *dir)
{
	static const char *const out[] = { "rules.cdb", "users.cdb" };
	char rp[512], up[512], victim[512], link[600], via[512];
	char text[] = BASE, got[64] = "";
	struct stat st;
	struct mk m;
	int fd, rc;

	snprintf(victim, sizeof victim, "%s/victim", dir);
	fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "keep me\n", 8) != 8 || close(fd) < 0)
		return;
	for (size_t i = 0; i < 2; i++) {
		snprintf(link, sizeof link, "%s/%s.tmp.%ld", dir, out[i],
			 (long)getpid());
		if (symlink(victim, link) < 0)
			return;
	}
	snprintf(rp, sizeof rp, "%s/rules.cdb", dir);
	snprintf(up, sizeof up, "%s/users.cdb", dir);
	mk_init(&m, "t");
	m.diag = stderr;
	mk_parse_text(&m, "t", text);
	T_CHECK("planted links: makecdb writes its files", mk_write(&m, rp, up) == 0);
	fd = open(victim, O_RDONLY);
	if (fd >= 0 && read(fd, got, sizeof got - 1) < 0)
		got[0] = '\0';
	if (fd >= 0)
		close(fd);
	T_STREQ("planted links: the file they point to is untouched", got,
		"keep me\n");
	T_CHECK("planted links: rules.cdb is a file of its own",
		lstat(rp, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 8);
	snprintf(via, sizeof via, "%s/via", dir);
	rc = symlink(".", via);
	snprintf(rp, sizeof rp, "%s/via/rules.cdb", dir);
	snprintf(up, sizeof up, "%s/via/users.cdb", dir);
	T_CHECK("a folder reached through a link: refused",
		rc == 0 && mk_write(&m, rp, up) < 0);
	mk_free(&m);
	for (size_t i = 0; i < 2; i++) {
		snprintf(link, sizeof link, "%s/%s.tmp.%ld", dir, out[i],
			 (long)getpid());
		unlink(link);
	}
	unlink(via);
	unlink(victim);
}

int main(void)
{
	char dir[] = "/tmp/test_makecdb.XXXXXX", name[300], path[600];
	struct mk m;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct mcase *c = &cases[i];
		char *out = run(c->text, &m, 0, NULL);
		snprintf(name, sizeof name, "makecdb: %.60s", *c->text ? c->text : "(base)");
		for (char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = '|';
		T_CHECK(name, m.errors == c->errors && m.warnings == c->warnings &&
				strstr(out, c->diag) != NULL);
		if (m.errors != c->errors || m.warnings != c->warnings || !strstr(out, c->diag))
			printf("   got %d errors %d warnings:\n%s", m.errors, m.warnings, out);
		mk_free(&m);
	}
	test_rules_per_address();
	if (!mkdtemp(dir))
		return 1;
	test_written(dir);
	test_disabled_same_range(dir);
	test_planted_links(dir);
	snprintf(path, sizeof path, "%s/rules.cdb", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/users.cdb", dir);
	unlink(path);
	rmdir(dir);
	return t_done();
}
