/* smtp_policy.c: talking to relay-policy.  smtpd never decides relaying
 * itself: it sends what it saw and answers the client what policy says. */
#include "smtp_policy.h"
#include "coro.h"
#include "runsock.h"
#include "smtp_frame.h"
#include "log.h"
#include "usock.h"
#include "wire_policy.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections of sessions that ended, in step and with nothing owed,
 * for the next sessions of this process (a worker serving many at
 * once): taking one saves the connect (socket, connect, SO_PEERCRED,
 * relay-policy's accept and its look at the peer) as a worker serving
 * one session at a time saves it by keeping its own.  Never more than
 * the sessions that ended since, so no more descriptors than at the
 * busiest moment. */
#define POLICY_SPARE_MAX 32
static int spare[POLICY_SPARE_MAX];
static size_t nspare;

static void policy_init(struct smtp_policy *p, int fd, int timeout_ms)
{
	p->timeout_ms = timeout_ms;
	p->rd.buf = NULL;
	p->heldlen = 0;
	p->heldn = 0;
	p->owed = p->aged = 0;
	p->posted = 0;
	p->attach = -1;
	p->fd = fd;
}

int smtp_policy_open(struct smtp_policy *p, const char *path, int timeout_ms)
{
	policy_init(p, -1, timeout_ms);
	/* among many sessions, a policy that does not accept (stopped,
	 * slow) is waited for by this session alone, for timeout_ms */
	p->fd = runsock_connect_for(RUNSOCK_POLICY, path, timeout_ms);
	if (p->fd < 0)
		return -1;
	/* non-blocking, replies waited for with poll: a read blocked on a
	 * unix socket is also woken each time policy takes our request out
	 * of the socket (the write space wake-up is not filtered by event
	 * as poll's is): one context switch more per request, measured
	 * (+1.5 per message), against the one poll system call it saves */
	if (fd_nonblock(p->fd) < 0 || ns_reader_init(&p->rd, p->fd) < 0) {
		smtp_policy_close(p);
		return -1;
	}
	return 0;
}

void smtp_policy_close(struct smtp_policy *p)
{
	if (p->fd >= 0) {
		coro_forget(p->fd); /* the number is reused */
		close(p->fd);
	}
	p->fd = -1;
	smtp_policy_forget(p);
	p->owed = p->aged = 0;
	p->posted = 0;
	ns_reader_free(&p->rd);
}

void smtp_policy_forget(struct smtp_policy *p)
{
	explicit_bzero(p->held, p->heldlen);
	p->heldlen = 0;
	p->heldn = 0;
	p->attach = -1;
}

void smtp_policy_attach(struct smtp_policy *p, int client_fd)
{
	p->attach = client_fd;
}

/* A verdict posted and never asked for is just one more owed reply. */
static void policy_unpost(struct smtp_policy *p)
{
	if (p->posted) {
		p->posted = 0;
		p->owed++;
	}
}

/* How to read the next reply: wait for it (poll first: it was asked for
 * just now), or a read first, then wait (a reply that had time to come,
 * or an owed one). */
enum { READ_WAIT, READ_TRY_WAIT };

/* 1 with the next reply, -1 on failure or timeout. */
static int policy_read(struct smtp_policy *p, int how, char **payload,
		       size_t *len)
{
	int rc = 0;

	if (how == READ_TRY_WAIT)
		rc = ns_reader_next(&p->rd, payload, len);
	if (rc == 0)
		rc = smtp_frame_read(&p->rd, p->timeout_ms, payload, len);
	return rc;
}

/* Read the replies owed for frames sent without waiting; they change
 * nothing, but each must be a reply.  Those owed before the last write
 * (a commit's) had time to come: a read first; those of frames that
 * went with the last request (held ones) come with its answer: a poll
 * first (a read first would say EAGAIN).  0, or -1. */
static int policy_settle(struct smtp_policy *p)
{
	struct smtp_verdict v;
	char *payload;
	size_t len;

	for (; p->owed > 0; p->owed--) {
		int how = p->aged > 0 ? READ_TRY_WAIT : READ_WAIT;
		if (p->aged > 0)
			p->aged--;
		if (policy_read(p, how, &payload, &len) != 1 ||
		    smtp_policy_parse(payload, len, &v) < 0)
			return -1;
	}
	return 0;
}

/* Send the held frames and req in one write.  0, or -1. */
static int policy_send(struct smtp_policy *p, struct kv *req)
{
	char stackbuf[2048], *buf = stackbuf;
	size_t cap = p->heldlen + req->len + 32, n = 0;
	int rc = -1;

	if (p->fd < 0 || req->failed)
		return -1;
	/* replies still owed are read after this request, with its answer
	 * (most often they come together) */
	policy_unpost(p);
	if (cap > sizeof stackbuf && !(buf = malloc(cap)))
		return -1;
	memcpy(buf, p->held, p->heldlen);
	n = ns_encode(buf + p->heldlen, cap - p->heldlen,
		      req->buf ? req->buf : "", req->len);
	errno = 0;
	if (n && smtp_frame_write_fd(p->fd, buf, p->heldlen + n, p->timeout_ms,
				     p->attach) == 0) {
		p->aged = p->owed;
		smtp_policy_forget(p);
		rc = 0;
	}
	/* it may hold an AUTH password */
	explicit_bzero(buf, cap); /* cap <= sizeof stackbuf when on it */
	if (buf != stackbuf)
		free(buf);
	return rc;
}

/* Giving up on relay-policy while every frame went out whole (an answer
 * that did not come in time, or garbage): a reset goes first, without
 * waiting and at best effort.  relay-policy reads frames in order, so it
 * takes what it was sent, then the reset, then the close, and gives the
 * transaction's reservations back: no message can come of a session that
 * ends here.  A close alone is counted as a message (relay-queue may have
 * one: txn_fate_unknown).  After a failed write the stream may end inside
 * a frame: no reset then. */
static void policy_reset_nowait(struct smtp_policy *p)
{
	char frame[64];
	struct kv req;
	size_t n = 0;
	int saved = errno;

	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_RESET);
	kv_add(&req, WIRE_POLICY_NOREPLY, "1");
	if (!req.failed)
		n = ns_encode(frame, sizeof frame, req.buf, req.len);
	if (n && p->fd >= 0)
		(void)send(p->fd, frame, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	kv_free(&req);
	errno = saved;
}

/* wrote_all: every frame was written whole (the failure was a read) */
static void policy_failed(struct smtp_policy *p, int wrote_all)
{
	log_warn("policy: no usable answer (%s)",
		 errno ? strerror(errno) : "closed or garbage");
	if (wrote_all)
		policy_reset_nowait(p);
	smtp_policy_close(p);
}

int smtp_policy_tell(struct smtp_policy *p, struct kv *req, int hold)
{
	char frame[SMTP_POLICY_HELD];
	size_t n;

	if (p->fd < 0 || req->failed)
		return -1;
	/* its reply would be accept, and nobody would read it: policy
	 * writes none (ARCHITECTURE.md), one write less for it and one read
	 * less here (a commit's reply came alone) */
	kv_add(req, WIRE_POLICY_NOREPLY, "1");
	if (req->failed)
		return -1;
	n = ns_encode(frame, sizeof frame, req->buf ? req->buf : "", req->len);
	if (hold && n && p->heldlen + n <= sizeof p->held) {
		memcpy(p->held + p->heldlen, frame, n);
		p->heldlen += n;
		p->heldn++;
		return 0;
	}
	if (policy_send(p, req) < 0) {
		policy_failed(p, 0);
		return -1;
	}
	return 0;
}

int smtp_policy_alive(struct smtp_policy *p)
{
	struct pollfd pf = { .fd = p->fd, .events = POLLRDHUP };

	if (p->fd < 0)
		return 0;
	return smtp_policy_peer_left(p, &pf, poll(&pf, 1, 0)) ? 0 : 1;
}

int smtp_policy_peer_left(const struct smtp_policy *p,
			  const struct pollfd *pf, int polled)
{
	/* replies owed from the last session (POLLIN) stay where they are:
	 * they are read before the next verdict, a read no later than now */
	return p->fd >= 0 && polled > 0 &&
	       (pf->revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

void smtp_policy_quit(struct smtp_policy *p)
{
	if (p->fd < 0)
		return;
	policy_unpost(p);
	(void)policy_settle(p); /* policy gone: changes nothing */
	smtp_policy_close(p);
}

void smtp_policy_park(struct smtp_policy *p)
{
	if (p->fd < 0)
		return;
	policy_unpost(p);
	/* in step: every reply read, nothing beyond the last one */
	if (policy_settle(p) == 0 && nspare < POLICY_SPARE_MAX &&
	    ns_reader_pending(&p->rd) <= p->rd.consumed) {
		spare[nspare++] = p->fd;
		p->fd = -1;
	}
	smtp_policy_close(p);
}

int smtp_policy_unpark(struct smtp_policy *p, int timeout_ms)
{
	policy_init(p, -1, timeout_ms);
	if (nspare == 0)
		return -1;
	p->fd = spare[--nspare];
	if (ns_reader_init(&p->rd, p->fd) < 0) {
		smtp_policy_close(p);
		return -1;
	}
	return 0;
}

int smtp_policy_post(struct smtp_policy *p, struct kv *req)
{
	if (p->fd < 0 || req->failed)
		return -1;
	if (policy_send(p, req) < 0) {
		if (p->fd >= 0)
			policy_failed(p, 0);
		return -1;
	}
	p->posted = 1;
	return 0;
}

/* The posted request's verdict, after the replies owed before it. */
static int policy_verdict(struct smtp_policy *p, struct smtp_verdict *v,
			  int how)
{
	char *payload;
	size_t len;
	int rc = -1;

	if (p->fd < 0 || !p->posted)
		return -1;
	p->posted = 0;
	errno = 0;
	if (policy_settle(p) == 0 && policy_read(p, how, &payload, &len) == 1)
		rc = smtp_policy_parse(payload, len, v);
	if (rc < 0)
		policy_failed(p, 1);
	return rc;
}

int smtp_policy_verdict(struct smtp_policy *p, struct smtp_verdict *v)
{
	return policy_verdict(p, v, READ_TRY_WAIT);
}

int smtp_policy_ask(struct smtp_policy *p, struct kv *req,
		    struct smtp_verdict *v)
{
	if (smtp_policy_post(p, req) < 0)
		return -1;
	return policy_verdict(p, v, READ_WAIT);
}

static const struct {
	const char *name;
	enum smtp_action action;
} actions[] = {
	{ WIRE_POLICY_ACTION_ACCEPT, SMTP_ACCEPT },
	{ WIRE_POLICY_ACTION_REJECT, SMTP_REJECT },
	{ WIRE_POLICY_ACTION_TEMPFAIL, SMTP_TEMPFAIL },
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

/* A value as it came (it goes on to relay-queue, which checks the MAC
 * over these very bytes); 0, or -1 when it does not fit. */
static int copy_raw(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	if (l >= n)
		return -1;
	memcpy(dst, src, l + 1);
	return 0;
}

static int parse_admit(const struct kv_msg *m, struct smtp_admit *a)
{
	const char *proof = kv_get(m, ADMIT_WIRE_PROOF);

	if (!proof)
		return 0;
	if (copy_raw(a->proof, sizeof a->proof, proof) < 0 ||
	    copy_raw(a->ip, sizeof a->ip, kv_get_or(m, ADMIT_WIRE_IP, "")) < 0 ||
	    copy_raw(a->helo, sizeof a->helo,
		     kv_get_or(m, ADMIT_WIRE_HELO, "")) < 0 ||
	    copy_raw(a->auth, sizeof a->auth,
		     kv_get_or(m, ADMIT_WIRE_AUTH, "")) < 0 ||
	    copy_raw(a->customer, sizeof a->customer,
		     kv_get_or(m, ADMIT_WIRE_CUSTOMER, "")) < 0 ||
	    copy_raw(a->registered, sizeof a->registered,
		     kv_get_or(m, ADMIT_WIRE_REGISTERED, "")) < 0 ||
	    copy_raw(a->helo_named, sizeof a->helo_named,
		     kv_get_or(m, ADMIT_WIRE_HELO_NAMED, "")) < 0 ||
	    copy_raw(a->null_sender, sizeof a->null_sender,
		     kv_get_or(m, ADMIT_WIRE_NULL_SENDER, "")) < 0)
		return -1;
	return 0;
}

int smtp_policy_parse(char *payload, size_t len, struct smtp_verdict *v)
{
	static struct kv_msg m; /* 8 KiB: not on the stack */
	const char *a, *c, *f;
	size_t i;

	memset(v, 0, sizeof *v);
	if (kv_parse(&m, payload, len) < 0 || !(a = kv_get(&m, WIRE_POLICY_ACTION)))
		return -1;
	for (i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(a, actions[i].name) == 0)
			break;
	if (i == sizeof actions / sizeof actions[0])
		return -1;
	v->action = actions[i].action;
	c = kv_get(&m, WIRE_POLICY_CODE);
	if (c && (strlen(c) != 3 || strspn(c, "0123456789") != 3))
		return -1;
	v->code = c ? atoi(c) : 0;
	if (!code_valid(v))
		return -1;
	copy_clean(v->esc, sizeof v->esc, kv_get_or(&m, WIRE_POLICY_ESC, ""));
	copy_clean(v->text, sizeof v->text, kv_get_or(&m, WIRE_POLICY_TEXT, ""));
	copy_clean(v->customer, sizeof v->customer,
		   kv_get_or(&m, WIRE_POLICY_CUSTOMER, ""));
	copy_clean(v->user, sizeof v->user, kv_get_or(&m, WIRE_POLICY_USER, ""));
	if ((f = kv_get(&m, WIRE_POLICY_FROM)) != NULL) {
		if (*f && addr_mailbox_check(f, 1) != ADDR_OK)
			return -1;
		strcpy(v->from, f);
		v->has_from = 1;
	}
	return parse_admit(&m, &v->admit);
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
