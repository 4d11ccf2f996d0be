/* queue_admit.c: relay-queue's side of queue admission (lib/admit.h).  An
 * injection that carries relay-policy's proof is taken only when the
 * proof is the policy's MAC over this very envelope and the provenance
 * info fields (ip, helo, auth, customer, registered, helo_named,
 * null_sender), was
 * made within the TTL and after this process started, and was not used
 * before; one from a peer that must have a proof (relay-smtpd's uid) is
 * refused without one.
 * The message body cannot be covered: policy never sees it. */
#include "queue.h"
#include "admit.h"
#include "exitcodes.h"
#include "settings.h"

#include <stdio.h>
#include <string.h>

static struct admit_key key;
static unsigned long long started_ms;

/* Proofs used, per start of relay-policy (epoch): the highest seq seen
 * and a bit per seq of the last ADMIT_WINDOW below it (128 KiB).  A proof
 * further back is refused as too old; a policy restart starts a new
 * epoch, and the one before is kept for the messages still under way. */
#define ADMIT_WINDOW (1ULL << 20)
static struct admit_seen {
	unsigned long long epoch, top;
	int used;
	unsigned char bits[ADMIT_WINDOW / 8];
} seen[2];
static int seen_newest;
/* When an epoch's record was dropped (two newer ones came: its relay-policy
 * is gone): a proof of an epoch not on record must be younger. */
static unsigned long long seen_floor_ms;

int queue_admit_init(void)
{
	int rc = admit_key_load(&key);

	started_ms = admit_now_ms();
	return rc;
}

void queue_admit_set_key(const struct admit_key *k)
{
	key = *k;
	started_ms = admit_now_ms();
	memset(seen, 0, sizeof seen);
}

static struct admit_seen *seen_for(unsigned long long epoch,
				      unsigned long long ms)
{
	for (int i = 0; i < 2; i++)
		if (seen[i].used && seen[i].epoch == epoch)
			return &seen[i];
	if (ms < seen_floor_ms)
		return NULL;
	seen_newest ^= 1; /* the older of the two goes */
	if (seen[seen_newest].used)
		seen_floor_ms = admit_now_ms();
	memset(&seen[seen_newest], 0, sizeof seen[0]);
	seen[seen_newest].used = 1;
	seen[seen_newest].epoch = epoch;
	return &seen[seen_newest];
}

static void bit_clear(struct admit_seen *s, unsigned long long from,
		      unsigned long long to)
{
	if (to - from >= ADMIT_WINDOW) {
		memset(s->bits, 0, sizeof s->bits);
		return;
	}
	for (unsigned long long q = from; q != to; q++)
		s->bits[(q % ADMIT_WINDOW) / 8] &=
		    (unsigned char)~(1u << (q % 8));
}

int queue_admit_mark(unsigned long long epoch, unsigned long long seq,
		     unsigned long long ms)
{
	struct admit_seen *s = seen_for(epoch, ms);
	unsigned char *b, m;

	if (!s)
		return -1;
	if (seq > s->top) {
		bit_clear(s, s->top + 1, seq + 1);
		s->top = seq;
	} else if (s->top - seq >= ADMIT_WINDOW) {
		return -1;
	}
	b = &s->bits[(seq % ADMIT_WINDOW) / 8];
	m = (unsigned char)(1u << (seq % 8));
	if (*b & m)
		return -1;
	*b |= m;
	return 0;
}

static int admit_fail(struct queue_job *j, int status, const char *why)
{
	j->r.status = status;
	j->r.reason = QREASON_ADMIT;
	snprintf(j->r.text, sizeof j->r.text, "admission refused: %s", why);
	return -1;
}

/* The provenance keys appear at most once, and proto at most once. */
static int info_unique(const struct qfile *q)
{
	static const char *const keys[] = { ADMIT_WIRE_PROOF, ADMIT_WIRE_IP,
		ADMIT_WIRE_HELO, ADMIT_WIRE_AUTH, ADMIT_WIRE_CUSTOMER,
		ADMIT_WIRE_REGISTERED, ADMIT_WIRE_HELO_NAMED,
		ADMIT_WIRE_NULL_SENDER, "proto", "tls" };

	for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
		int n = 0;
		for (size_t i = 0; i < q->ninfo; i++)
			n += strcmp(q->info[i].key, keys[k]) == 0;
		if (n > 1)
			return 0;
	}
	return 1;
}

static const char *info_or_empty(const struct qfile *q, const char *k)
{
	const char *v = qfile_get_info(q, k);
	return v ? v : "";
}

/* proto says AUTH (its A, RFC 3848) only when the proof names a user:
 * smtpd's word on ESMTP and TLS stays, not on that.  Without its A
 * while the proof names one, proto goes and the Received header says
 * ESMTP[S]A by itself (queue_received.c). */
static void proto_from_proof(struct qfile *q, const char *auth)
{
	for (size_t i = 0; i < q->ninfo; i++) {
		char *p = q->info[i].value;
		size_t n = strlen(p);
		if (strcmp(q->info[i].key, "proto") != 0)
			continue;
		if (!*auth && n && p[n - 1] == 'A')
			p[n - 1] = '\0';
		else if (*auth && (!n || p[n - 1] != 'A'))
			q->info[i] = q->info[--q->ninfo];
		return;
	}
}

/* The proof's MAC and its id stay in the file without the MAC. */
static void proof_keep_id(struct qfile *q)
{
	for (size_t i = 0; i < q->ninfo; i++)
		if (strcmp(q->info[i].key, ADMIT_WIRE_PROOF) == 0) {
			char *dot = strrchr(q->info[i].value, '.');
			if (dot)
				*dot = '\0';
		}
}

static int proof_check(struct queue_job *j, const char *proof)
{
	const struct qfile *q = &j->q;
	unsigned long long now = admit_now_ms(), ttl;
	struct admit_txn t;
	const char *mac;

	if (admit_proof_parse(proof, &t, &mac) < 0)
		return admit_fail(j, EXIT_PERM, "not a proof");
	t.ip = info_or_empty(q, ADMIT_WIRE_IP);
	t.helo = info_or_empty(q, ADMIT_WIRE_HELO);
	t.auth = info_or_empty(q, ADMIT_WIRE_AUTH);
	t.customer = info_or_empty(q, ADMIT_WIRE_CUSTOMER);
	t.registered = info_or_empty(q, ADMIT_WIRE_REGISTERED);
	t.helo_named = info_or_empty(q, ADMIT_WIRE_HELO_NAMED);
	t.from = q->from;
	t.null_sender = info_or_empty(q, ADMIT_WIRE_NULL_SENDER);
	admit_rcpt_start(t.rcpts);
	for (size_t i = 0; i < q->nrcpt; i++)
		admit_rcpt_add(t.rcpts, q->rcpt[i]);
	if (!admit_proof_ok(&key, &t, proof))
		return admit_fail(j, EXIT_PERM, "proof does not match");
	ttl = (unsigned long long)(cf.session_timeout + 60) * 1000ULL;
	if (t.ms < started_ms || t.ms > now + 60000 || now - t.ms > ttl)
		return admit_fail(j, EXIT_TEMP, "proof expired");
	if (queue_admit_mark(t.epoch, t.seq, t.ms) < 0)
		return admit_fail(j, EXIT_PERM, "proof used before");
	j->admitted = 1;
	j->admit_epoch = t.epoch;
	j->admit_seq = t.seq;
	return 0;
}

int queue_admit_check(struct queue_job *j)
{
	struct qfile *q = &j->q;
	const char *proof = qfile_get_info(q, ADMIT_WIRE_PROOF);

	j->admitted = 0;
	if (!key.ok && (proof || j->need_admit))
		return admit_fail(j, EXIT_TEMP, "no admission key");
	if (!proof)
		return j->need_admit ? admit_fail(j, EXIT_PERM, "no proof") : 0;
	if (!info_unique(q))
		return admit_fail(j, EXIT_PERM, "info key given twice");
	if (proof_check(j, proof) < 0)
		return -1;
	proto_from_proof(q, info_or_empty(q, ADMIT_WIRE_AUTH));
	proof_keep_id(q);
	return 0;
}

void queue_admit_receipt(struct queue_job *j)
{
	j->r.receipt[0] = '\0';
	if (j->admitted)
		admit_receipt(&key, j->admit_epoch, j->admit_seq, j->q.qid,
			      j->r.receipt);
}
