/* admit.h: queue admission (ARCHITECTURE.md, "Trust model").  relay-queue
 * takes a message from relay-smtpd only with relay-policy's proof that it
 * admitted that transaction: a MAC over who the client is (as policy
 * knows it) and the envelope, keyed by a secret that relay-policy and
 * relay-queue hold and relay-smtpd cannot read.  relay-queue answers a
 * queued message with a receipt (a MAC over the proof's id and the queue
 * id) that relay-policy checks before it counts the message.
 *
 * The key: relay-master makes ADMIT_KEY_LEN random bytes once per run and
 * hands them to relay-policy and relay-queue, at each start, on an
 * inherited pipe (descriptor ADMIT_KEY_FD, named by the environment
 * variable ADMIT_KEY_ENV); it is never on disk. */
#ifndef ADMIT_H
#define ADMIT_H

#include <stddef.h>

#define ADMIT_KEY_LEN 32
#define ADMIT_KEY_ENV "RELAYBOX_ADMIT_FD"
#define ADMIT_KEY_FD 3
#define ADMIT_HASH_LEN 32
#define ADMIT_MAC_HEX (2 * ADMIT_HASH_LEN)
/* "<epoch, 16 hex>.<seq>.<ms>.<mac, 64 hex>" */
#define ADMIT_PROOF_MAX 128

/* The wire keys: the policy's reply to an accepted phase=rcpt or data
 * (with the provenance keys below), the envelope's info field, the
 * queue's answer and the commit (ARCHITECTURE.md). */
#define ADMIT_WIRE_PROOF "admit"
#define ADMIT_WIRE_RECEIPT "receipt"
/* The provenance the proof vouches for: reply keys and envelope info
 * keys alike. */
#define ADMIT_WIRE_IP "ip"
#define ADMIT_WIRE_HELO "helo"
#define ADMIT_WIRE_AUTH "auth"
#define ADMIT_WIRE_CUSTOMER "customer"
/* the envelope sender, lowercased as users.cdb keys it, when it is a
 * registered user and the session has no AUTH identity: abuse
 * monitoring's "sender:" account, beside the device's (abuse.h) */
#define ADMIT_WIRE_REGISTERED "registered"
/* "helo_named=yes": the customer was found by the HELO name (no AUTH):
 * abuse monitoring keys the device by address and HELO then, by the
 * address alone otherwise (abuse.h, abuse_device) */
#define ADMIT_WIRE_HELO_NAMED "helo_named"
/* "null_sender=yes": the client's MAIL FROM was <> and policy rewrote it
 * (doc/BEHAVIOUR.md §2.4): the message is a bounce, and relay-send sends
 * no notice about it to the rewritten sender (§4.3).  Covered by the
 * proof: a taken-over relay-smtpd can neither add nor drop it. */
#define ADMIT_WIRE_NULL_SENDER "null_sender"
#define ADMIT_WIRE_YES "yes"

struct admit_key {
	unsigned char k[ADMIT_KEY_LEN];
	int ok;                  /* 0: none was handed over */
};

/* Read the key from the descriptor ADMIT_KEY_ENV names (then closed and
 * the variable removed).  1 with a key, 0 when none was handed over
 * (not started by relay-master), -1 when one was announced but could
 * not be read. */
int admit_key_load(struct admit_key *key);
/* A new random key (relay-master); 0 or -1. */
int admit_key_new(struct admit_key *key);
/* In a child between fork and exec: put the key on ADMIT_KEY_FD through
 * a pipe and name it in the environment; 0 or -1. */
int admit_key_pass(const struct admit_key *key);

/* What one proof vouches for. */
struct admit_txn {
	unsigned long long epoch;  /* random, one per start of relay-policy */
	unsigned long long seq;    /* counts the proofs of that start */
	unsigned long long ms;     /* when it was made (admit_now_ms) */
	const char *ip, *helo, *auth, *customer; /* "" when none */
	const char *registered;    /* ADMIT_WIRE_REGISTERED, "" when none */
	const char *helo_named;    /* ADMIT_WIRE_YES or "" */
	const char *from;          /* the sender as rewritten, "" for <> */
	const char *null_sender;   /* ADMIT_WIRE_YES when from was <>, or "" */
	unsigned char rcpts[ADMIT_HASH_LEN]; /* admit_rcpt_* over them */
};

/* The recipients, in order, folded into one hash. */
void admit_rcpt_start(unsigned char h[ADMIT_HASH_LEN]);
void admit_rcpt_add(unsigned char h[ADMIT_HASH_LEN], const char *rcpt);

/* The proof of t as text (ADMIT_PROOF_MAX bytes with the NUL). */
void admit_proof(const struct admit_key *key, const struct admit_txn *t,
		 char *out);
/* Take epoch, seq and ms out of a proof; 0, or -1 when it is not one.
 * *mac points at its MAC. */
int admit_proof_parse(const char *proof, struct admit_txn *t,
		      const char **mac);
/* 1 when proof is key's MAC over t (constant time), else 0. */
int admit_proof_ok(const struct admit_key *key, const struct admit_txn *t,
		   const char *proof);

/* The receipt for the message of proof (epoch, seq) queued as qid
 * (ADMIT_MAC_HEX + 1 bytes), and its check. */
void admit_receipt(const struct admit_key *key, unsigned long long epoch,
		   unsigned long long seq, const char *qid, char *out);
int admit_receipt_ok(const struct admit_key *key, unsigned long long epoch,
		     unsigned long long seq, const char *qid,
		     const char *receipt);

/* Milliseconds on CLOCK_MONOTONIC: one clock for every process of the
 * machine, which a step of the wall clock (or libfaketime, as tests use
 * it on relay-policy) does not move. */
unsigned long long admit_now_ms(void);

#endif
