/* smtp_policy.h: relay-smtpd's client of relay-policy (run/policy.sock):
 * one connection per process, kept from one session to the next (each
 * session starts with phase=connect, which makes policy forget the last
 * one), one request frame, one reply frame (ARCHITECTURE.md,
 * "relay-smtpd <-> relay-policy"). */
#ifndef SMTP_POLICY_H
#define SMTP_POLICY_H

#include <stddef.h>

#include "kv.h"
#include "ns.h"

enum smtp_action { SMTP_ACCEPT, SMTP_REJECT, SMTP_TEMPFAIL };

struct smtp_verdict {
	enum smtp_action action;
	int code;             /* 0 when policy gave none */
	char esc[16];
	char text[400];
	char from[257];       /* mail: rewritten sender (has_from) */
	int has_from;
	char customer[128];   /* mail */
	char user[256];       /* auth: the verified identity */
};

struct smtp_policy {
	int fd;               /* -1 when not connected */
	int timeout_ms;
	struct ns_reader rd;
};

/* Connect to path; -1 when policy is not there. */
int smtp_policy_open(struct smtp_policy *p, const char *path,
		     int timeout_ms);
void smtp_policy_close(struct smtp_policy *p);

/* Send req (its "phase=" first), read the verdict.  -1 when policy is
 * unreachable, times out or answers garbage (the connection is then
 * closed and every later call fails too). */
int smtp_policy_ask(struct smtp_policy *p, struct kv *req,
		    struct smtp_verdict *v);

/* Parse a reply payload into v (pure; unit tested).  -1 on garbage. */
int smtp_policy_parse(char *payload, size_t len, struct smtp_verdict *v);

/* Fill a missing code/esc/text from defaults ("250", "2.1.0", "Ok"). */
void smtp_policy_defaults(struct smtp_verdict *v, int code, const char *esc,
			  const char *text);

#endif
