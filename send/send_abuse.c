/* send_abuse.c: relay-send's share of abuse monitoring (lib/abuse.h).
 * Each finished delivery job of a customer's message is one signal to
 * relay-queue, the state's one writer: how many recipients were
 * delivered and refused for good, which destination domains refused
 * them for good, and which refused the message for spam or policy
 * (enhanced code 5.7.N): each domain once per message, however many of
 * its recipients it refused, so that one receiving domain cannot make
 * one message count as many.  On a connection of its own to
 * queue.sock, non-blocking and unanswered: a signal is a count, not
 * mail, so one that cannot be written is dropped (a log line a minute
 * at most) rather than ever holding up the scheduler.  The signals of
 * one wake-up go out together (send_abuse_send, before the loop waits):
 * one write, and one read for relay-queue, instead of one per job. */
#include "send.h"
#include "abuse.h"
#include "admit.h"
#include "kv.h"
#include "log.h"
#include "ns.h"
#include "runsock.h"
#include "usock.h"
#include "wire_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int abuse_fd = -1;
static unsigned ab_delivered, ab_bounced;
/* the job's domains that bounced, and that refused for spam or policy */
struct ab_domains {
	unsigned n;
	char name[ABUSE_REJECT_DOMAINS][ABUSE_DOMAIN_MAX];
};
static struct ab_domains ab_bnc, ab_rej;
/* Frames not written yet, whole ones but for a short write's rest. */
#define ABUSE_BUF 16384
static char abuse_buf[ABUSE_BUF];
static size_t abuse_len;

/* Domain d once in the job's list l (a full list keeps its first ones:
 * a job is mostly one domain, a relayhost's may be more). */
static void abuse_domain_once(struct ab_domains *l, const char *d)
{
	for (unsigned i = 0; i < l->n; i++)
		if (!strcmp(l->name[i], d))
			return;
	if (l->n < ABUSE_REJECT_DOMAINS)
		snprintf(l->name[l->n++], sizeof l->name[0], "%s", d);
}

void send_abuse_result(char st, int code, const char *text, const char *rcpt)
{
	char d[ABUSE_DOMAIN_MAX];

	if (st == 'D')
		ab_delivered++;
	if (st != 'B')
		return;
	ab_bounced++;
	if (abuse_rcpt_domain(d, sizeof d, rcpt) < 0)
		return;
	abuse_domain_once(&ab_bnc, d);
	if (abuse_policy_reply(code, text))
		abuse_domain_once(&ab_rej, d);
}

static int abuse_connect(void)
{
	char path[PATH_MAX];

	if (abuse_fd >= 0)
		return abuse_fd;
	runsock_path(RUNSOCK_QUEUE, path, sizeof path);
	abuse_fd = runsock_connect(RUNSOCK_QUEUE, path);
	if (abuse_fd >= 0)
		fcntl(abuse_fd, F_SETFL, fcntl(abuse_fd, F_GETFL) | O_NONBLOCK);
	return abuse_fd;
}

/* A log line a minute at most for signals that could not be sent. */
static void abuse_warn(const char *why)
{
	static time_t last;
	time_t now = time(NULL);

	if (now - last >= 60) {
		last = now;
		log_warn("abuse signals not sent to relay-queue: %s", why);
	}
}

/* The connection failed: a frame cut short would put the stream out of
 * step, so a new connection for the next ones; those held are dropped. */
static void abuse_reset(const char *why)
{
	abuse_warn(why);
	if (abuse_fd >= 0)
		close(abuse_fd);
	abuse_fd = -1;
	abuse_len = 0;
}

/* Keep one frame for send_abuse_send; dropped when the buffer is full
 * (relay-queue not reading): the frames held stay in step. */
static void abuse_hold(const struct kv *k)
{
	size_t n;

	if (k->failed || !(n = ns_encode(abuse_buf + abuse_len,
					 sizeof abuse_buf - abuse_len,
					 k->buf, k->len))) {
		abuse_warn(k->failed ? "out of memory" : "relay-queue not reading");
		return;
	}
	abuse_len += n;
}

void send_abuse_send(void)
{
	ssize_t w;

	if (!abuse_len)
		return;
	if (abuse_connect() < 0) {
		abuse_reset(strerror(errno));
		return;
	}
	w = send(abuse_fd, abuse_buf, abuse_len, MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* kept for the next wake-up */
	if (w <= 0) {
		abuse_reset(w < 0 ? strerror(errno) : "short write");
		return;
	}
	/* the rest of a short write goes first next time: in step */
	abuse_len -= (size_t)w;
	memmove(abuse_buf, abuse_buf + w, abuse_len);
}

/* key=d,d,... for the names of l, when it has any. */
static void abuse_add_domains(struct kv *k, const char *key,
			      const struct ab_domains *l)
{
	char list[ABUSE_REJECT_DOMAINS * ABUSE_DOMAIN_MAX];
	size_t n = 0;

	if (!l->n)
		return;
	for (unsigned i = 0; i < l->n; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
				      i ? "," : "", l->name[i]);
	kv_add(k, key, list);
}

/* One signal frame for account (device: the message's, for its sender:
 * account). */
static void abuse_signal(const char *acct, const char *device,
			 const char *cust, const char *qid)
{
	struct kv k;

	kv_init(&k);
	kv_add(&k, WIRE_QUEUE_OP, ABUSE_WIRE_SIGNAL);
	kv_add(&k, ABUSE_WIRE_ACCOUNT, acct);
	kv_add(&k, ABUSE_WIRE_CUSTOMER, cust);
	kv_add(&k, ABUSE_WIRE_QID, qid);
	kv_addf(&k, ABUSE_WIRE_DELIVERED, "%u", ab_delivered);
	kv_addf(&k, ABUSE_WIRE_BOUNCED, "%u", ab_bounced);
	kv_addf(&k, ABUSE_WIRE_REJECTED, "%u", ab_rej.n);
	abuse_add_domains(&k, ABUSE_WIRE_REJECTED_DOMAINS, &ab_rej);
	abuse_add_domains(&k, ABUSE_WIRE_BOUNCED_DOMAINS, &ab_bnc);
	if (device)
		kv_add(&k, ABUSE_WIRE_DEVICE, device);
	abuse_hold(&k);
	kv_free(&k);
}

/* The job's counts, a frame for each of the message's accounts. */
void send_abuse_flush(const struct send_msg *m)
{
	const char *cust = qfile_get_info(&m->q, ADMIT_WIRE_CUSTOMER);
	char accts[ABUSE_ACCOUNTS_MAX][ABUSE_KEY_MAX];
	int n;

	if (cust && *cust && (ab_delivered || ab_bounced) &&
	    (n = abuse_accounts(accts, qfile_get_info(&m->q, ADMIT_WIRE_AUTH),
				qfile_get_info(&m->q, ADMIT_WIRE_REGISTERED),
				qfile_get_info(&m->q, ADMIT_WIRE_IP),
				qfile_get_info(&m->q, ADMIT_WIRE_HELO),
				qfile_get_info(&m->q, ADMIT_WIRE_HELO_NAMED)
				!= NULL)) > 0)
		for (int i = 0; i < n; i++)
			abuse_signal(accts[i], i ? accts[0] : NULL, cust,
				     m->q.qid);
	ab_delivered = ab_bounced = ab_rej.n = ab_bnc.n = 0;
}
