/* ctl_explain.c: relayctl explain --ip IP [--helo NAME] [--user ADDR]
 * [--from ADDR] [--rcpt ADDR] [--tls]: a dry run of the relay policy.
 * It asks the running relay-policy (phase=explain on run/policy.sock), so
 * the answer comes from exactly the code and rules that decide real
 * sessions; nothing is counted and the AUTH user is taken as verified.
 * Prints each step considered, the decision and the exact SMTP reply. */
#include "ctl.h"
#include "runsock.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "kv.h"
#include "ns.h"
#include "settings.h"
#include "wire_policy.h"

static int usage(void)
{
	fprintf(stderr, "usage: relayctl explain --ip IP [--helo NAME] "
			"[--user ADDR] [--from ADDR] [--rcpt ADDR] [--tls]\n"
			"  --from '' is the null sender <>\n");
	return EXIT_PERM;
}

static int ask(struct kv *req, struct kv_msg *m, struct ns_reader *rd)
{
	char path[PATH_MAX], *payload;
	size_t len;
	int fd;

	runsock_path(RUNSOCK_POLICY, path, sizeof path);
	if ((fd = runsock_connect(RUNSOCK_POLICY, path)) < 0) {
		fprintf(stderr, "relayctl: explain: relay-policy is not running "
				"(%s)\n", path);
		return -1;
	}
	if (kv_send(req, fd) < 0 || ns_reader_init(rd, fd) < 0 ||
	    ns_reader_next(rd, &payload, &len) != 1 ||
	    kv_parse(m, payload, len) < 0) {
		fprintf(stderr, "relayctl: explain: no answer from relay-policy\n");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void print(const struct kv_msg *m)
{
	const char *trace[KV_MAXPAIRS];
	size_t n = kv_get_all(m, WIRE_POLICY_TRACE, trace, KV_MAXPAIRS);

	for (size_t i = 0; i < n; i++)
		printf("  %s\n", trace[i]);
	printf("customer: %s\n", *kv_get_or(m, WIRE_POLICY_CUSTOMER, "") ?
				  kv_get(m, WIRE_POLICY_CUSTOMER) : "(none)");
	printf("rule:     %s\n", *kv_get_or(m, WIRE_POLICY_RULE, "") ?
				  kv_get(m, WIRE_POLICY_RULE) : "(none)");
	if (*kv_get_or(m, WIRE_POLICY_FROM, ""))
		printf("sender:   <%s>\n", kv_get(m, WIRE_POLICY_FROM));
	printf("decision: %s\n", kv_get_or(m, WIRE_POLICY_ACTION, "?"));
	printf("reply:    %s %s %s\n", kv_get_or(m, WIRE_POLICY_CODE, "250"),
	       kv_get_or(m, WIRE_POLICY_ESC, ""), kv_get_or(m, WIRE_POLICY_TEXT, ""));
}

int ctl_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ip", required_argument, 0, 'i' },
		{ "helo", required_argument, 0, 'h' },
		{ "user", required_argument, 0, 'u' },
		{ "from", required_argument, 0, 'f' },
		{ "rcpt", required_argument, 0, 'r' },
		{ "tls", no_argument, 0, 't' },
		{ 0, 0, 0, 0 },
	};
	const char *ip = NULL, *helo = "", *user = "", *from = "", *rcpt = "";
	int tls = 0, c, rc;
	struct kv req;
	static struct kv_msg m;
	struct ns_reader rd = { .buf = NULL };

	optind = 1; /* argv[-1] is the command name: getopt's argv[0] */
	while ((c = getopt_long(argc + 1, argv - 1, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': ip = optarg; break;
		case 'h': helo = optarg; break;
		case 'u': user = optarg; break;
		case 'f': from = optarg; break;
		case 'r': rcpt = optarg; break;
		case 't': tls = 1; break;
		default: return usage();
		}
	}
	if (!ip || optind != argc + 1)
		return usage();
	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_EXPLAIN);
	kv_add(&req, WIRE_POLICY_IP, ip);
	kv_add(&req, WIRE_POLICY_HELO, helo);
	kv_add(&req, WIRE_POLICY_USER, user);
	kv_add(&req, WIRE_POLICY_FROM, from);
	kv_add(&req, WIRE_POLICY_RCPT, rcpt);
	kv_add(&req, WIRE_POLICY_TLS, tls ? "1" : "0");
	printf("explain: client [%s] helo=%s user=%s from=<%s> rcpt=<%s> tls=%s\n",
	       ip, *helo ? helo : "-", *user ? user : "-", from, rcpt,
	       tls ? "yes" : "no");
	rc = ask(&req, &m, &rd);
	if (rc == 0)
		print(&m);
	ns_reader_free(&rd);
	kv_free(&req);
	return rc == 0 ? EXIT_DONE : EXIT_TEMP;
}
