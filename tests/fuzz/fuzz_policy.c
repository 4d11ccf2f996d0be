// links: policy/*.c tests/fuzz/instance.c
/* fuzz_policy.c: relay-policy's request handling, a whole session of
 * requests at a time, against a fixed rule set.  The property is the one
 * the relay exists for: no recipient is accepted unless a rule of the
 * rules accepts that session and sender --
 *   office  (acme): client in 192.0.2.0/24, sender in acme.example;
 *   roam    (acme): AUTH as u@acme.example (password "pw") over TLS,
 *                   sender u@acme.example itself (senders=registered),
 *                   or the null sender made postmaster@acme.example;
 *   any     (beta): client 198.51.100.7, any sender.
 * AUTH is judged by the target, not by policy's state: an accepted AUTH
 * must have given that user and password.  The client address is the one
 * relay-policy believes (how it learns it is tested elsewhere).
 *
 * Input: request payloads (key=value lines) separated by NUL bytes, sent
 * in order on one connection.  The first use builds the rules with the
 * tree's makecdb (run the target from the top of the tree). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ipaddr.h"
#include "settings.h"
#include "instance.h"
#include "../../policy/policy_server.h"
#include "../../policy/rate_store.h"

#define FP_PASS_HASH "$6$fuzz$ZT1cb9gB6UR6B0IePzJufyOI9uXbxfZwEODhn8oE1PZynRIBjBh9tksWmF/orqseiGSJksk44GaSgq3Zh6y8d1"
#define FP_AUTH_MAX 2  /* password checks per input: each forks a child */

static const char fp_rules[] =
	"customer acme licenses=10 paid=yes\n"
	"domain acme.example customer=acme\n"
	"user u@acme.example hash=" FP_PASS_HASH "\n"
	"rule acme office senders=domain auth=ip\n"
	"ip acme office 192.0.2.0/24\n"
	"rule acme roam senders=registered auth=smtp\n"
	"customer beta licenses=1 paid=yes\n"
	"domain beta.example customer=beta\n"
	"rule beta any senders=any auth=ip\n"
	"ip beta any 198.51.100.7\n";

static struct policy_srv fp_srv;

static void fp_setup(void)
{
	static int done;
	char cmd[512], susp[256];
	const char *dir;

	if (done++)
		return;
	dir = fuzz_instance("hostname = relay.test\nrate_accounting = no\n");
	fuzz_instance_file(dir, "relay.rules", fp_rules);
	snprintf(cmd, sizeof cmd, "for m in build/asan/bin/makecdb bin/makecdb; "
		 "do [ -x $m ] && exec $m -d %s >/dev/null; done; exit 1", dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "fuzz_policy: makecdb failed (run from the "
				"top of the tree after make)\n");
		abort();
	}
	settings_path(susp, sizeof susp, "suspended");
	if (policy_db_open(&fp_srv.db, cf.rules_cdb, cf.users_cdb, susp) < 0)
		abort();
}

struct fp_state {
	int authed;        /* an AUTH this target judged correct succeeded */
	int nauth;
};

static int fp_in_office(const char *ip)
{
	struct ipaddr a;
	struct cidr net;

	return ipaddr_parse(ip, &a) == 0 &&
	       cidr_parse("192.0.2.0/24", &net) == 0 && cidr_match(&net, &a);
}

static const char *fp_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

/* The oracle: some rule accepts this session and its sender. */
static int fp_rule_allows(const struct policy_conn *c, const struct fp_state *st)
{
	const struct policy_session *s = &c->s;

	if (!s->mail_ok)
		return 0;
	if (!strcmp(s->ip, "198.51.100.7"))
		return 1;
	if (fp_in_office(s->ip) && !strcasecmp(fp_domain(s->from), "acme.example"))
		return 1;
	/* the null sender is rewritten to postmaster@ of the domain that
	 * AUTH identified */
	return st->authed && s->tls &&
	       (!strcasecmp(s->from, "u@acme.example") ||
		(s->null_sender && !strcmp(s->from, "postmaster@acme.example")));
}

/* The reply's action is accept (payload: key=value lines). */
static int fp_accepted(const struct kv *rep)
{
	char *z = strndup(rep->buf ? rep->buf : "", rep->len);
	struct kv_msg m;
	int ok = kv_parse(&m, z, rep->len) == 0 &&
		 !strcmp(kv_get_or(&m, "action", ""), "accept");

	free(z);
	return ok;
}

/* An AUTH's answer, given at once (a cache hit) or after its check. */
static void fp_auth_judge(const char *user, const char *pass,
			  struct fp_state *st, struct kv *rep)
{
	if (!fp_accepted(rep))
		return;
	if (strcasecmp(user, "u@acme.example") || strcmp(pass, "pw"))
		abort();  /* accepted a wrong user or password */
	st->authed = 1;
}

/* An AUTH request whose check runs: wait for it, then judge. */
static void fp_auth(struct policy_conn *c, const char *user,
		    const char *pass, struct fp_state *st, struct kv *rep)
{
	struct pollfd pf = { .fd = c->auth.fd, .events = POLLIN };
	int rc;

	do
		rc = c->auth.pid > 0 ? poll(&pf, 1, 30000) : 1;
	while (rc < 0 && errno == EINTR);
	if (rc != 1)
		abort();  /* a check that never answers */
	policy_phase_auth_done(&fp_srv, c, rep);
	fp_auth_judge(user, pass, st, rep);
}

/* One request; aborts when a decision breaks the rules. */
static void fp_request(struct policy_conn *c, char *payload, size_t len,
		       struct fp_state *st)
{
	char *copy = strndup(payload, len);
	struct kv_msg m;
	struct kv rep;
	const char *phase, *user = "", *pass = "";
	int rc;

	if (kv_parse(&m, copy, len) < 0 || !(phase = kv_get(&m, "phase"))) {
		free(copy);
		return;  /* garbage: the server drops such a peer */
	}
	if (!strcmp(phase, "auth")) {
		if (st->nauth++ >= FP_AUTH_MAX) {
			free(copy);
			return;
		}
		user = kv_get_or(&m, "user", "");
		pass = kv_get_or(&m, "pass", "");
	}
	kv_init(&rep);
	rc = policy_phase_handle(&fp_srv, c, payload, len, &rep);
	if (rc == 1 && c->auth.pid)
		fp_auth(c, user, pass, st, &rep);
	else if (rc == 0 && !strcmp(phase, "auth"))
		fp_auth_judge(user, pass, st, &rep);
	else if (rc == 0 && !strcmp(phase, "rcpt") && fp_accepted(&rep) &&
		 !fp_rule_allows(c, st))
		abort();  /* a recipient accepted without a rule */
	kv_free(&rep);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_conn c;
	struct fp_state st = { 0 };
	char *buf = malloc(size + 1), *p = buf, *end = buf + size;

	fp_setup();
	memcpy(buf, data, size);
	buf[size] = '\0';
	memset(&c, 0, sizeof c);
	c.fd = -1;
	c.auth.fd = -1;
	c.client_fd = -1; /* no client socket: the claimed address (uid 0) */
	c.txn = rate_store_txn_new();
	policy_session_init(&c.s, "");
	while (p < end) {
		char *z = memchr(p, '\0', (size_t)(end - p));
		size_t n = z ? (size_t)(z - p) : (size_t)(end - p);
		fp_request(&c, p, n, &st);
		p += n + 1;
	}
	policy_auth_cancel(&c.auth);
	rate_store_txn_free(c.txn);
	free(buf);
	return 0;
}
