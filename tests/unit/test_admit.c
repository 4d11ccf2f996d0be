// links: queue/queue_admit.c
/* test_admit.c: queue admission proofs (lib/admit.h) and relay-queue's
 * record of used ones (queue_admit_mark): a proof holds only for the
 * transaction it was made for (every field, every recipient, their
 * order), only under its key, and only once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "../../queue/queue.h"
#include "t.h"

static struct admit_key key, other;

static void txn(struct admit_txn *t, const char *const *rcpts)
{
	memset(t, 0, sizeof *t);
	t->epoch = 0x1234abcdULL;
	t->seq = 7;
	t->ms = 1700000000123ULL;
	t->ip = "192.0.2.1";
	t->helo = "mx.example.com";
	t->auth = "user@example.com";
	t->customer = "acme";
	t->from = "user@example.com";
	admit_rcpt_start(t->rcpts);
	for (; *rcpts; rcpts++)
		admit_rcpt_add(t->rcpts, *rcpts);
}

static const char *const two[] = { "a@example.org", "b@example.org", NULL };
static const char *const swapped[] = { "b@example.org", "a@example.org", NULL };
static const char *const other_rcpt[] = { "a@example.org", "c@example.org",
					  NULL };
static const char *const joined[] = { "a@example.orgb@example.org", NULL };

static void test_proofs(void)
{
	struct admit_txn t, u, p;
	char proof[ADMIT_PROOF_MAX], p_reg[ADMIT_PROOF_MAX];
	const char *mac;

	txn(&t, two);
	admit_proof(&key, &t, proof);
	T_CHECK("proof parses", admit_proof_parse(proof, &p, &mac) == 0 &&
				    p.epoch == t.epoch && p.seq == 7 &&
				    p.ms == t.ms);
	T_CHECK("proof holds for its transaction", admit_proof_ok(&key, &t, proof));
	T_CHECK("not under another key", !admit_proof_ok(&other, &t, proof));
	txn(&u, two);
	u.ip = "10.9.8.7";
	T_CHECK("another client IP", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.auth = "ceo@example.com";
	T_CHECK("another AUTH identity", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.auth = "";
	T_CHECK("no AUTH identity", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.customer = "other";
	T_CHECK("another customer", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.registered = "user@example.com";
	T_CHECK("a registered sender added", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.registered = "";
	T_CHECK("registered: none is NULL", admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.helo_named = "yes";
	T_CHECK("helo_named added", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.customer = "";
	u.registered = "acme";
	T_CHECK("customer moved to registered",
		!admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.registered = "boss@example.com";
	admit_proof(&key, &u, p_reg);
	u.registered = "other@example.com";
	T_CHECK("another registered sender",
		admit_proof_ok(&key, &u, p_reg) == 0);
	txn(&u, two);
	u.null_sender = ADMIT_WIRE_YES;
	T_CHECK("null_sender added", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.null_sender = ADMIT_WIRE_YES;
	admit_proof(&key, &u, p_reg);
	u.null_sender = "";
	T_CHECK("null_sender dropped", !admit_proof_ok(&key, &u, p_reg));
	txn(&u, two);
	u.helo = "forged";
	T_CHECK("another HELO", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.from = "ceo@example.com";
	T_CHECK("another sender", !admit_proof_ok(&key, &u, proof));
	txn(&u, other_rcpt);
	T_CHECK("other recipients", !admit_proof_ok(&key, &u, proof));
	txn(&u, swapped);
	T_CHECK("recipients in another order", !admit_proof_ok(&key, &u, proof));
	txn(&u, joined);
	T_CHECK("recipients joined", !admit_proof_ok(&key, &u, proof));
	txn(&u, two);
	u.seq = 8;
	T_CHECK("another sequence number", !admit_proof_ok(&key, &u, proof));
	proof[strlen(proof) - 1] ^= 1;
	T_CHECK("a changed MAC", !admit_proof_ok(&key, &t, proof));
	T_CHECK("garbage is no proof",
		admit_proof_parse("1.2.3.xyz", &p, &mac) < 0 &&
		admit_proof_parse("", &p, &mac) < 0 &&
		admit_proof_parse("-1.2.3.", &p, &mac) < 0);
}

static void test_receipts(void)
{
	char r[ADMIT_MAC_HEX + 1];

	admit_receipt(&key, 5, 9, "QID1", r);
	T_CHECK("receipt holds", admit_receipt_ok(&key, 5, 9, "QID1", r));
	T_CHECK("receipt: another queue id",
		!admit_receipt_ok(&key, 5, 9, "QID2", r));
	T_CHECK("receipt: another proof", !admit_receipt_ok(&key, 5, 8, "QID1", r));
	T_CHECK("receipt: another epoch", !admit_receipt_ok(&key, 6, 9, "QID1", r));
	T_CHECK("receipt: another key", !admit_receipt_ok(&other, 5, 9, "QID1", r));
	T_CHECK("receipt: none", !admit_receipt_ok(&key, 5, 9, "QID1", NULL) &&
				   !admit_receipt_ok(&key, 5, 9, "QID1", ""));
}

/* A proof made now: the last check is of one older than a dropped epoch. */
static int mark(unsigned long long epoch, unsigned long long seq)
{
	return queue_admit_mark(epoch, seq, admit_now_ms());
}

static void test_once(void)
{
	T_CHECK("first use", mark(1, 10) == 0);
	T_CHECK("second use refused", mark(1, 10) < 0);
	T_CHECK("an earlier one, unused", mark(1, 3) == 0);
	T_CHECK("a later one", mark(1, 11) == 0);
	T_CHECK("same seq, another epoch", mark(2, 10) == 0);
	T_CHECK("first epoch still known", mark(1, 3) < 0);
	T_CHECK("far ahead", mark(1, 10 + (1ULL << 21)) == 0);
	T_CHECK("too far back to tell: refused", mark(1, 12) < 0);
	T_CHECK("just inside the window",
		mark(1, 11 + (1ULL << 20)) == 0);
	T_CHECK("a third epoch drops the oldest", mark(3, 1) == 0 &&
		mark(2, 10) < 0);
	T_CHECK("a dropped epoch's proof is refused",
		queue_admit_mark(1, 10, admit_now_ms() - 1000) < 0);
}

int main(void)
{
	T_CHECK("new key", admit_key_new(&key) == 0 && key.ok);
	T_CHECK("another key", admit_key_new(&other) == 0 &&
		memcmp(key.k, other.k, sizeof key.k) != 0);
	test_proofs();
	test_receipts();
	test_once();
	return t_done();
}
