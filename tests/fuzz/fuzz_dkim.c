// links: queue/queue_dkim.c queue/queue_dkim_hdr.c queue/queue_dkim_keys.c queue/queue_rules.c queue/queue_dkim_ed.c queue/queue_dirs.c tests/fuzz/instance.c
/* fuzz_dkim.c: relay-queue's DKIM signer on arbitrary messages, fed in
 * chunks of a size the input picks, for a domain signed twice (RSA by
 * libopendkim, Ed25519 by queue_dkim_ed.c).  Whatever comes:
 * - the signer never fails on a message (only keys and memory can make
 *   it fail, and both are fine here);
 * - every line of the DKIM-Signature headers ends in CRLF;
 * - the two signatures carry the same bh=: the body hash of our relaxed
 *   canonicalization (Ed25519) equals libopendkim's (RSA), a differential
 *   check of queue_dkim_ed.c on every input.
 *
 * Input: byte 0 the chunk size (1 + byte % 128, or 64 KiB when 255);
 * byte 1 bit 0: put "From: a@dual.example" in front (else the input must
 * bring its own From:); the rest is the message. */
#include <cdb.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qfile.h"
#include "settings.h"
#include "instance.h"
#include "../../queue/queue.h"

static void fd_key(const char *dir, const char *name, EVP_PKEY *k)
{
	char path[300];
	BIO *b;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	b = BIO_new_file(path, "w");
	if (!k || !b || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
						  NULL))
		abort();
	BIO_free(b);
	EVP_PKEY_free(k);
}

static void fd_setup(void)
{
	static int done;
	char path[300], val[1024];
	struct cdb_make cm;
	const char *dir;
	int fd;

	if (done++)
		return;
	dir = fuzz_instance("hostname = relay.test\n");
	fd_key(dir, "rsa.key", EVP_RSA_gen(1024));
	fd_key(dir, "ed.key", EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	snprintf(val, sizeof val, "customer=acme\ndomain=dual.example\n"
		 "sig=rsa r 0 %s/rsa.key\nsig=ed25519 e 0 %s/ed.key\n", dir, dir);
	snprintf(path, sizeof path, "%s/rules.cdb", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || cdb_make_start(&cm, fd) < 0 ||
	    cdb_make_add(&cm, "dkim:dual.example", 17, val,
			 (unsigned)strlen(val)) < 0 ||
	    cdb_make_finish(&cm) < 0)
		abort();
	close(fd);
}

/* The bh= value of the n-th DKIM-Signature in sig, folds removed. */
static void fd_bh(const char *sig, int n, char *out, size_t on)
{
	const char *p = sig;
	size_t l = 0;

	while (n-- > 0 && p)
		p = strstr(p + 1, "DKIM-Signature:");
	p = p ? strstr(p, "bh=") : NULL;
	if (!p)
		abort();
	for (p += 3; *p && *p != ';' && l + 1 < on; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			out[l++] = *p;
	out[l] = '\0';
}

static void fd_check(const char *sig)
{
	char bh0[100], bh1[100];

	for (const char *p = sig; (p = strchr(p, '\n')); p++)
		if (p == sig || p[-1] != '\r')
			abort(); /* a bare LF in our header */
	if (strncmp(sig, "DKIM-Signature: v=1; a=rsa-sha256;", 34))
		abort(); /* RSA first */
	fd_bh(sig, 0, bh0, sizeof bh0);
	fd_bh(sig, 1, bh1, sizeof bh1);
	if (strcmp(bh0, bh1))
		abort(); /* our relaxed body differs from libopendkim's */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char from[] = "From: a@dual.example\r\n";
	struct queue_dkim d;
	struct qfile q;
	char err[600], *sig = NULL;
	size_t step;

	fd_setup();
	if (size < 2)
		return 0;
	step = data[0] == 255 ? 65536 : 1u + data[0] % 128;
	memset(&q, 0, sizeof q);
	strcpy(q.qid, "FUZZ");
	q.info[0].key = "customer";
	q.info[0].value = "acme";
	q.ninfo = 1;
	queue_dkim_init(&d);
	if (data[1] & 1)
		queue_dkim_feed(&d, from, sizeof from - 1);
	for (size_t i = 2; i < size; i += step)
		queue_dkim_feed(&d, (const char *)data + i,
				size - i < step ? size - i : step);
	if (queue_dkim_finish(&d, &q, &sig, err, sizeof err) < 0)
		abort();
	if (sig)
		fd_check(sig);
	free(sig);
	queue_dkim_free(&d);
	return 0;
}
