/* smtp_policy.c: talking to relay-policy.  smtpd never decides relaying
 * itself: it sends what it saw and answers the client what policy says. */
#include "smtp_policy.h"
#include "smtp_frame.h"
#include "log.h"
#include "usock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int smtp_policy_open(struct smtp_policy *p, const char *path, int timeout_ms)
{
	p->timeout_ms = timeout_ms;
	p->rd.buf = NULL;
	p->fd = usock_connect(path);
	if (p->fd < 0)
		return -1;
	if (fd_nonblock(p->fd) < 0 || ns_reader_init(&p->rd, p->fd) < 0) {
		smtp_policy_close(p);
		return -1;
	}
	return 0;
}

void smtp_policy_close(struct smtp_policy *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	ns_reader_free(&p->rd);
}

int smtp_policy_ask(struct smtp_policy *p, struct kv *req,
		    struct smtp_verdict *v)
{
	char *frame = NULL, *payload;
	size_t len, cap;
	int rc = -1;

	if (p->fd < 0 || req->failed)
		return -1;
	cap = req->len + 32;
	frame = malloc(cap);
	len = frame ? ns_encode(frame, cap, req->buf ? req->buf : "", req->len)
		    : 0;
	errno = 0;
	if (len && smtp_frame_write(p->fd, frame, len, p->timeout_ms) == 0 &&
	    smtp_frame_read(&p->rd, p->timeout_ms, &payload, &len) == 1)
		rc = smtp_policy_parse(payload, len, v);
	if (frame)
		explicit_bzero(frame, cap); /* may hold an AUTH password */
	free(frame);
	if (rc < 0) {
		log_warn("policy: no usable answer (%s)",
			 errno ? strerror(errno) : "closed or garbage");
		smtp_policy_close(p);
	}
	return rc;
}

static const struct {
	const char *name;
	enum smtp_action action;
} actions[] = {
	{ "accept", SMTP_ACCEPT },
	{ "reject", SMTP_REJECT },
	{ "tempfail", SMTP_TEMPFAIL },
};

/* Copy a value, making it safe for one SMTP reply line. */
static void copy_clean(char *dst, size_t n, const char *src)
{
	log_clean(dst, n, src, strlen(src));
}

/* The code must be 2xx..5xx and agree with the action: a refusal is
 * never answered with a success code, nor the other way round (a 4xx
 * "reject" is taken as it is: the code is what the client acts on). */
static int code_valid(const struct smtp_verdict *v)
{
	if (v->code == 0)
		return 1;
	if (v->code < 200 || v->code > 599)
		return 0;
	if (v->action == SMTP_ACCEPT)
		return v->code < 400;
	return v->code >= 400;
}

int smtp_policy_parse(char *payload, size_t len, struct smtp_verdict *v)
{
	static struct kv_msg m; /* 8 KiB: not on the stack */
	const char *a, *c, *f;
	size_t i;

	memset(v, 0, sizeof *v);
	if (kv_parse(&m, payload, len) < 0 || !(a = kv_get(&m, "action")))
		return -1;
	for (i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(a, actions[i].name) == 0)
			break;
	if (i == sizeof actions / sizeof actions[0])
		return -1;
	v->action = actions[i].action;
	c = kv_get(&m, "code");
	if (c && (strlen(c) != 3 || strspn(c, "0123456789") != 3))
		return -1;
	v->code = c ? atoi(c) : 0;
	if (!code_valid(v))
		return -1;
	copy_clean(v->esc, sizeof v->esc, kv_get_or(&m, "esc", ""));
	copy_clean(v->text, sizeof v->text, kv_get_or(&m, "text", ""));
	copy_clean(v->customer, sizeof v->customer, kv_get_or(&m, "customer", ""));
	copy_clean(v->user, sizeof v->user, kv_get_or(&m, "user", ""));
	if ((f = kv_get(&m, "from")) != NULL) {
		if (strlen(f) >= sizeof v->from)
			return -1;
		strcpy(v->from, f);
		v->has_from = 1;
	}
	return 0;
}

void smtp_policy_defaults(struct smtp_verdict *v, int code, const char *esc,
			  const char *text)
{
	if (!v->code)
		v->code = code;
	if (!v->esc[0])
		snprintf(v->esc, sizeof v->esc, "%s", esc);
	if (!v->text[0])
		snprintf(v->text, sizeof v->text, "%s", text);
}
