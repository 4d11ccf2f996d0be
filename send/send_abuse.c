/* send_abuse.c: relay-send's share of abuse monitoring (lib/abuse.h).
 * Each finished delivery job of a customer's message is one signal to
 * relay-queue, the state's one writer: how many recipients were
 * delivered and refused for good, and the destination domains that
 * refused them for good and that refused the message for spam or policy
 * (enhanced code 5.7.N), each once per message, however many of its
 * recipients it refused and over however many jobs (a receiver that
 * defers some recipients and refuses them later makes more jobs of one
 * message): one receiving domain cannot make one message count as many.
 * Every domain of a job counts, not only the ABUSE_REJECT_DOMAINS the
 * signal names.  On a connection of its own to
 * queue.sock, non-blocking and unanswered: a signal is a count, not
 * mail, so one that cannot be written is dropped (a log line a minute
 * at most) rather than ever holding up the scheduler.  Signals held
 * while relay-queue restarts are kept (ABUSE_BUF bytes at most) and go
 * to the new one; only the frames behind one cut short on a connection
 * that broke are lost.  The signals of one wake-up go out together
 * (send_abuse_send, before the loop waits): one write, and one read for
 * relay-queue, instead of one per job. */
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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int abuse_fd = -1;
static unsigned ab_delivered, ab_bounced;
/* A receiving domain that refused a recipient for good; policy: one of
 * them for spam or policy. */
struct ab_domain {
	char name[ABUSE_DOMAIN_MAX];
	int policy;
	int bounce; /* at the flush: its first bounce for the message */
};
/* The domains of the job's bounces, one per bounced recipient (at most
 * the job's recipients), made one per domain at the flush. */
static struct ab_domain *ab_bnc;
static size_t ab_nbnc, ab_capbnc;
static int ab_nomem; /* a bounce's domain could not be kept */
/* Frames not written yet, whole ones but for a short write's rest. */
#define ABUSE_BUF 16384
static char abuse_buf[ABUSE_BUF];
static size_t abuse_len;
static int abuse_whole = 1; /* the buffer starts at a frame's start */

/* d at the end of the list *l (*n of *cap); 0, or -1 out of memory. */
static int ab_domain_add(struct ab_domain **l, size_t *n, size_t *cap,
			 const char *d, int policy)
{
	struct ab_domain *p;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		if (!(p = realloc(*l, nc * sizeof *p)))
			return -1;
		*l = p;
		*cap = nc;
	}
	snprintf((*l)[*n].name, sizeof (*l)[*n].name, "%s", d);
	(*l)[(*n)++].policy = policy;
	return 0;
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
	if (ab_domain_add(&ab_bnc, &ab_nbnc, &ab_capbnc, d,
			  abuse_policy_reply(code, text)) < 0)
		ab_nomem = 1;
}

static int ab_domain_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ab_domain *)a)->name,
		      ((const struct ab_domain *)b)->name);
}

/* l sorted, one entry per name (policy if any of its entries was). */
static size_t ab_domains_unique(struct ab_domain *l, size_t n)
{
	size_t k = 0;

	if (n < 2)
		return n; /* l may be NULL: qsort's is never */
	qsort(l, n, sizeof *l, ab_domain_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(l[k - 1].name, l[i].name))
			l[k - 1].policy |= l[i].policy;
		else
			l[k++] = l[i];
	}
	return k;
}

/* The reply of a recipient's state line, past its "{relay} ". */
static const char *ab_state_reply(const char *text)
{
	const char *e = text[0] == '{' ? strstr(text, "} ") : NULL;
	return e ? e + 2 : text;
}

/* The domains of m's recipients refused for good by an earlier job (a
 * result, not the queue lifetime's end), sorted, one per name: those
 * that counted already for this message.  0, or -1 out of memory. */
static int ab_domains_before(const struct send_msg *m, struct ab_domain **l,
			     size_t *n)
{
	size_t cap = 0;
	char d[ABUSE_DOMAIN_MAX];

	*l = NULL;
	*n = 0;
	for (size_t i = 0; i < m->st.n && i < m->q.nrcpt; i++) {
		const struct qstate_rcpt *r = &m->st.r[i];
		if (r->status != 'B' || r->expired ||
		    abuse_rcpt_domain(d, sizeof d, m->q.rcpt[i]) < 0)
			continue;
		if (ab_domain_add(l, n, &cap, d, abuse_policy_reply(
			r->code, ab_state_reply(r->text))) < 0)
			return -1;
	}
	*n = ab_domains_unique(*l, *n);
	return 0;
}

/* Which of the job's domains count for m, each once: a bounce when no
 * earlier job of m had a recipient of that domain refused for good, a
 * refusal when none had one refused for policy.  The job's list is one
 * entry per domain after it; bounce and policy say what each counts for. */
static void ab_domains_new(const struct send_msg *m)
{
	struct ab_domain *before, *hit;
	size_t nbefore;

	ab_nbnc = ab_domains_unique(ab_bnc, ab_nbnc);
	for (size_t i = 0; i < ab_nbnc; i++)
		ab_bnc[i].bounce = 1;
	if (!ab_nbnc) /* no bounce: nothing to look up */
		return;
	if (ab_domains_before(m, &before, &nbefore) < 0) {
		free(before);
		ab_nomem = 1; /* counted as if it were m's first job */
		return;
	}
	for (size_t i = 0; nbefore && i < ab_nbnc; i++)
		if ((hit = bsearch(&ab_bnc[i], before, nbefore, sizeof *before,
				   ab_domain_cmp))) {
			ab_bnc[i].bounce = 0;
			ab_bnc[i].policy &= !hit->policy;
		}
	free(before);
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
	abuse_whole = 1;
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

/* Write the frames held: what send(2) gives, or -1 with abuse_fd -1
 * when no connection could be made. */
static ssize_t abuse_write(void)
{
	if (abuse_connect() < 0)
		return -1;
	return send(abuse_fd, abuse_buf, abuse_len, MSG_NOSIGNAL);
}

void send_abuse_send(void)
{
	ssize_t w;

	if (!abuse_len)
		return;
	w = abuse_write();
	if (w < 0 && abuse_fd >= 0 && abuse_whole &&
	    (errno == EPIPE || errno == ECONNRESET)) {
		/* relay-queue restarted since the last signals: they are
		 * whole frames, so a new connection takes them */
		close(abuse_fd);
		abuse_fd = -1;
		w = abuse_write();
	}
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* kept for the next wake-up */
	if (w < 0 && abuse_fd < 0) { /* no relay-queue to take them yet */
		abuse_warn(strerror(errno));
		return; /* kept, whole, for when it is back */
	}
	if (w <= 0) {
		abuse_reset(w < 0 ? strerror(errno) : "short write");
		return;
	}
	/* the rest of a short write goes first next time: in step on
	 * this connection, not on another */
	abuse_len -= (size_t)w;
	abuse_whole = abuse_len == 0;
	memmove(abuse_buf, abuse_buf + w, abuse_len);
}

/* The job's domains that count as refusals (else as bounces): how
 * many, and key=d,d,... for the first ABUSE_REJECT_DOMAINS of them
 * (relay-queue keeps no more per account), when there are any. */
static unsigned abuse_add_domains(struct kv *k, const char *key,
				  int refusals)
{
	char list[ABUSE_REJECT_DOMAINS * ABUSE_DOMAIN_MAX];
	size_t n = 0;
	unsigned count = 0;

	list[0] = '\0';
	for (size_t i = 0; i < ab_nbnc; i++) {
		const struct ab_domain *d = &ab_bnc[i];
		if (!(refusals ? d->policy : d->bounce))
			continue;
		if (count++ < ABUSE_REJECT_DOMAINS)
			n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
					      n ? "," : "", d->name);
	}
	if (count)
		kv_add(k, key, list);
	return count;
}

/* One signal frame for account (device: the message's, for its sender:
 * account). */
static void abuse_signal(const char *acct, const char *device,
			 const char *cust, const char *qid)
{
	struct kv k;
	unsigned n;

	kv_init(&k);
	kv_add(&k, WIRE_QUEUE_OP, ABUSE_WIRE_SIGNAL);
	kv_add(&k, ABUSE_WIRE_ACCOUNT, acct);
	kv_add(&k, ABUSE_WIRE_CUSTOMER, cust);
	kv_add(&k, ABUSE_WIRE_QID, qid);
	kv_addf(&k, ABUSE_WIRE_DELIVERED, "%u", ab_delivered);
	kv_addf(&k, ABUSE_WIRE_BOUNCED, "%u", ab_bounced);
	n = abuse_add_domains(&k, ABUSE_WIRE_REJECTED_DOMAINS, 1);
	kv_addf(&k, ABUSE_WIRE_REJECTED, "%u", n);
	n = abuse_add_domains(&k, ABUSE_WIRE_BOUNCED_DOMAINS, 0);
	kv_addf(&k, ABUSE_WIRE_BOUNCED_MSGS, "%u", n);
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
				!= NULL)) > 0) {
		ab_domains_new(m);
		if (ab_nomem) /* some bounces count no domain */
			abuse_warn("out of memory");
		for (int i = 0; i < n; i++)
			abuse_signal(accts[i], i ? accts[0] : NULL, cust,
				     m->q.qid);
	}
	ab_delivered = ab_bounced = 0;
	ab_nbnc = 0;
	ab_nomem = 0;
	/* a large job's list is not kept for the next ones */
	if (ab_capbnc > 256) {
		free(ab_bnc);
		ab_bnc = NULL;
		ab_capbnc = 0;
	}
}
