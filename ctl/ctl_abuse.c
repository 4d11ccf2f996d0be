/* ctl_abuse.c: relayctl abuse list | show ACCOUNT | ack ACCOUNT |
 * release ACCOUNT.  list and show read DIR/abuse/accounts (relay-queue's
 * evidence, lib/abuse.h) and need no daemon; ack and release ask
 * relay-queue over queue.sock (root only: it checks the peer's uid), the
 * one writer of the state, which logs the action with who asked: the
 * login given here and the uid the kernel gives it. */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "abuse.h"
#include "exitcodes.h"
#include "kv.h"
#include "ns.h"
#include "regfile.h"
#include "rstore_abuse.h"
#include "runsock.h"
#include "settings.h"
#include "wire_queue.h"

static int abuse_usage(void)
{
	fprintf(stderr, "usage: relayctl abuse list | show ACCOUNT | "
			"ack ACCOUNT | release ACCOUNT\n"
			"  ACCOUNT as list prints it: user:ADDRESS, "
			"sender:ADDRESS, device:IP[/HELO] or "
			"overflow:CUSTOMER\n");
	return EXIT_PERM;
}

/* The value of "key=" in an accounts line into out ("" when absent). */
static void field(const char *line, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);

	out[0] = '\0';
	for (const char *p = line; p && *p; p = strchr(p, ' '), p = p ? p + 1 : p)
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			size_t l = strcspn(p + kl + 1, " \n");
			snprintf(out, n, "%.*s", (int)l, p + kl + 1);
			return;
		}
}

static void when(const char *secs, char *out, size_t n)
{
	time_t t = (time_t)strtoll(secs, NULL, 10);
	struct tm tm;

	if (t <= 0 || !gmtime_r(&t, &tm))
		snprintf(out, n, "-");
	else
		strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int each_line(int (*fn)(const char *line, void *arg), void *arg)
{
	char path[PATH_MAX], line[ABUSE_LINE_MAX], err[128];
	FILE *f;
	int rc = 0;

	/* abuse/ is relay-queue's: a link or a FIFO there is refused */
	settings_path(path, sizeof path, ABUSE_ACCOUNTS);
	if (!(f = regfile_fopen(path, err, sizeof err))) {
		if (errno == ENOENT)
			return 0; /* nothing followed yet */
		fprintf(stderr, "relayctl: abuse: %s: %s\n", path, err);
		return -1;
	}
	if (!fgets(line, sizeof line, f) ||
	    strncmp(line, ABUSE_MAGIC, strlen(ABUSE_MAGIC))) {
		fprintf(stderr, "relayctl: abuse: %s: not an accounts file\n", path);
		fclose(f);
		return -1;
	}
	while (!rc && fgets(line, sizeof line, f))
		rc = fn(line, arg);
	fclose(f);
	return rc;
}

static int list_one(const char *line, void *arg)
{
	char acct[ABUSE_KEY_MAX], cust[80], st[16], spam[16], scanned[16],
	    al[32], su[32], t1[32], t2[32], rej[16], bnc[16], dlv[16],
	    msgs[16];

	(void)arg;
	field(line, ABUSE_F_ACCOUNT, acct, sizeof acct);
	field(line, ABUSE_F_CUSTOMER, cust, sizeof cust);
	field(line, ABUSE_F_STATE, st, sizeof st);
	field(line, ABUSE_F_SPAM, spam, sizeof spam);
	field(line, ABUSE_F_SCANNED, scanned, sizeof scanned);
	field(line, ABUSE_F_REJECTED, rej, sizeof rej);
	field(line, ABUSE_F_BOUNCED, bnc, sizeof bnc);
	field(line, ABUSE_F_DELIVERED, dlv, sizeof dlv);
	field(line, ABUSE_F_BOUNCED_MSGS, msgs, sizeof msgs);
	field(line, ABUSE_F_ALERTED, al, sizeof al);
	field(line, ABUSE_F_SUSPENDED, su, sizeof su);
	when(al, t1, sizeof t1);
	when(su, t2, sizeof t2);
	printf("%-10s %s customer=%s spam_24h=%s scanned_24h=%s rejected_24h=%s "
	       "bounced_24h=%s delivered_24h=%s bounced_msgs_24h=%s alerted=%s "
	       "suspended=%s\n", st, acct, cust, spam, scanned, rej, bnc, dlv,
	       *msgs ? msgs : "0", t1, t2);
	return 0;
}

static int show_one(const char *line, void *arg)
{
	static const char *const keys[] = {
		ABUSE_F_ACCOUNT, ABUSE_F_CUSTOMER, ABUSE_F_STATE, ABUSE_F_REASON,
		ABUSE_F_SPAM, ABUSE_F_SCANNED, ABUSE_F_DELIVERED, ABUSE_F_BOUNCED,
		ABUSE_F_REJECTED, ABUSE_F_BASELINE, ABUSE_F_SINCE,
		ABUSE_F_ALERTED, ABUSE_F_SUSPENDED, ABUSE_F_MAILED,
		ABUSE_F_ACKED, ABUSE_F_SAMPLES, ABUSE_F_SYMBOLS, ABUSE_F_HOUR,
		ABUSE_F_SPAM_H, ABUSE_F_SCANNED_H, ABUSE_F_DELIVERED_H,
		ABUSE_F_BOUNCED_H, ABUSE_F_REJECTED_H, ABUSE_F_REJECTED_BY,
		ABUSE_F_BOUNCED_MSGS, ABUSE_F_BOUNCED_MSGS_H, ABUSE_F_BOUNCED_BY,
		ABUSE_F_FROM_DEVICE, ABUSE_F_FROM_OTHERS };
	char v[ABUSE_KEY_MAX + 256], t[32];

	field(line, ABUSE_F_ACCOUNT, v, sizeof v);
	if (strcmp(v, (const char *)arg))
		return 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		field(line, keys[i], v, sizeof v);
		if (!strcmp(keys[i], ABUSE_F_ALERTED) ||
		    !strcmp(keys[i], ABUSE_F_MAILED) ||
		    !strcmp(keys[i], ABUSE_F_SUSPENDED) ||
		    !strcmp(keys[i], ABUSE_F_SINCE)) {
			when(v, t, sizeof t);
			printf("%-12s %s\n", keys[i], t);
		} else {
			printf("%-12s %s\n", keys[i], v);
		}
	}
	return 1;
}

/* Who runs this: the login (sudo's caller first), for relay-queue's log. */
static void operator_name(char *out, size_t n)
{
	const char *s = getenv("SUDO_USER");
	struct passwd *pw;

	if (!s || !*s)
		s = getlogin();
	if ((!s || !*s) && (pw = getpwuid(getuid())))
		s = pw->pw_name;
	snprintf(out, n, "%s", s && *s ? s : "unknown");
}

static int ask_queue(const char *action, const char *account)
{
	char path[PATH_MAX], who[64], *payload;
	struct ns_reader rd = { 0 };
	struct kv_msg m;
	struct kv req;
	size_t len;
	int fd, rc = EXIT_TEMP;

	runsock_path(RUNSOCK_QUEUE, path, sizeof path);
	if ((fd = runsock_connect(RUNSOCK_QUEUE, path)) < 0) {
		fprintf(stderr, "relayctl: abuse: relay-queue is not running "
				"(%s)\n", path);
		return EXIT_TEMP;
	}
	operator_name(who, sizeof who);
	kv_init(&req);
	kv_add(&req, WIRE_QUEUE_OP, ABUSE_WIRE_OP);
	kv_add(&req, ABUSE_WIRE_ACTION, action);
	kv_add(&req, ABUSE_WIRE_ACCOUNT, account);
	kv_add(&req, ABUSE_WIRE_BY, who);
	if (kv_send(&req, fd) < 0 || ns_reader_init(&rd, fd) < 0 ||
	    ns_reader_next(&rd, &payload, &len) != 1 ||
	    kv_parse(&m, payload, len) < 0) {
		fprintf(stderr, "relayctl: abuse: no answer from relay-queue\n");
	} else {
		const char *st = kv_get_or(&m, WIRE_QUEUE_STATUS, "111");
		/* 111: not done now (a release whose file was not written) */
		rc = !strcmp(st, "0") ? EXIT_DONE :
		     !strcmp(st, "111") ? EXIT_TEMP : EXIT_PERM;
		fprintf(rc ? stderr : stdout, "%s%s\n", rc ? "relayctl: abuse: " : "",
			kv_get_or(&m, WIRE_QUEUE_TEXT, ""));
	}
	kv_free(&req);
	ns_reader_free(&rd);
	close(fd);
	return rc;
}

/* With a shared store: the fleet's abuse suspensions, "HOST kind name"
 * lines (lib/rstore_abuse.h), malloc'd; NULL when none or Redis failed
 * (said). */
static char *fleet_entries(void)
{
	char err[512], *text = NULL;
	struct rstore *rs;

	if (!strcmp(cf.rate_store, "local"))
		return NULL;
	if (!(rs = rstore_from_settings(err, sizeof err))) {
		fprintf(stderr, "relayctl: shared store: %s\n", err);
		return NULL;
	}
	if (!(text = rstore_abuse_fleet(rs, cf.rate_store_prefix)))
		fprintf(stderr, "relayctl: shared store %s: %s\n",
			cf.rate_store, rstore_error(rs));
	rstore_free(rs);
	return text;
}

/* list: this box's accounts, then each box's suspensions in the shared
 * store ("fleet HOST kind:name"), this box's among them. */
static int list_all(void)
{
	char *fleet;
	int rc = each_line(list_one, NULL) < 0 ? EXIT_TEMP : EXIT_DONE;

	if (!(fleet = fleet_entries()))
		return rc;
	for (char *l = strtok(fleet, "\n"); l; l = strtok(NULL, "\n")) {
		char *kind = strchr(l, ' '), *name;
		if (!kind || !(name = strchr(kind + 1, ' ')))
			continue;
		*kind++ = '\0';
		*name++ = '\0';
		printf("%-10s %s:%s box=%s\n", "fleet", kind, name, l);
	}
	free(fleet);
	return rc;
}

/* release refused here: say which box suspended account, if another. */
static void release_hint(const char *account)
{
	char kind[16], *fleet, *l;
	const char *name;
	size_t hl;

	if (abuse_split(account, kind, sizeof kind, &name) < 0 ||
	    !(fleet = fleet_entries()))
		return;
	hl = strlen(cf.hostname);
	for (l = strtok(fleet, "\n"); l; l = strtok(NULL, "\n")) {
		char *sp = strchr(l, ' ');
		if (!sp || ((size_t)(sp - l) == hl && !strncmp(l, cf.hostname, hl)))
			continue;
		if (!strncmp(sp + 1, kind, strlen(kind)) &&
		    sp[1 + strlen(kind)] == ' ' &&
		    !strcmp(sp + 2 + strlen(kind), name))
			fprintf(stderr, "relayctl: abuse: %s was suspended by box "
				"%.*s: release it there\n", account,
				(int)(sp - l), l);
	}
	free(fleet);
}

int ctl_abuse(int argc, char **argv)
{
	int rc;

	if (argc == 1 && !strcmp(argv[0], "list"))
		return list_all();
	if (argc != 2)
		return abuse_usage();
	if (!strcmp(argv[0], "show")) {
		rc = each_line(show_one, argv[1]);
		if (rc == 0)
			fprintf(stderr, "relayctl: abuse: no account %s\n", argv[1]);
		return rc == 1 ? EXIT_DONE : rc < 0 ? EXIT_TEMP : EXIT_PERM;
	}
	if (!strcmp(argv[0], ABUSE_WIRE_ACK))
		return ask_queue(argv[0], argv[1]);
	if (!strcmp(argv[0], ABUSE_WIRE_RELEASE)) {
		rc = ask_queue(argv[0], argv[1]);
		if (rc == EXIT_PERM)
			release_hint(argv[1]);
		return rc;
	}
	return abuse_usage();
}
