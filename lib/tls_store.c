/* tls_store.c: the certificate and key in a memfd that root fills and
 * relay-smtpd reads (see tls_store.h). */
#include "tls_store.h"
#include "tls.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#define TLS_STORE_MAGIC "RBXTLS1\n"
#define TLS_STORE_DATA (TLS_STORE_SIZE - TLS_STORE_HEAD)
#define TLS_STORE_WHY 512

struct tls_store_head {
	char magic[8];
	uint64_t seq;        /* odd while the writer writes */
	uint32_t cert_len, key_len;
	char why[TLS_STORE_WHY]; /* no certificate: why (NUL-terminated) */
	uint64_t tseq;       /* the ticket keys' own seqlock */
	struct tls_ticket_key tk[2]; /* current, previous */
};
_Static_assert(sizeof(struct tls_store_head) <= TLS_STORE_HEAD,
	       "the store's header outgrew its page");

static struct tls_store_head *head(const struct tls_store *st)
{
	return (struct tls_store_head *)(void *)st->map;
}

int tls_store_create(struct tls_store *st)
{
	int seals = F_SEAL_SHRINK | F_SEAL_GROW;

	st->map = NULL;
	st->fd = memfd_create("relaybox-tls", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (st->fd < 0)
		return -1;
	if (ftruncate(st->fd, TLS_STORE_SIZE) < 0 ||
	    fcntl(st->fd, F_ADD_SEALS, seals) < 0)
		goto fail;
	st->map = mmap(NULL, TLS_STORE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, st->fd, 0);
	if (st->map == MAP_FAILED) {
		st->map = NULL;
		goto fail;
	}
	/* from now on only this mapping writes: the memfd's inode is 0777,
	 * so a relay-smtpd could open a worker's descriptor again through
	 * /proc for writing; the seal makes that write and any new shared
	 * writable mapping fail */
	if (fcntl(st->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
		munmap(st->map, TLS_STORE_SIZE);
		st->map = NULL;
		goto fail;
	}
	memcpy(head(st)->magic, TLS_STORE_MAGIC, 8);
	tls_store_clear(st, "no certificate loaded yet");
	tls_store_tickets_rotate(st); /* without randomness: no tickets */
	return 0;
fail:
	close(st->fd);
	st->fd = -1;
	return -1;
}

int tls_store_ro_fd(const struct tls_store *st)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/self/fd/%d", st->fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The writer: seq odd, fill, seq even; readers retry meanwhile. */
static void publish(struct tls_store *st, const char *cert, size_t clen,
		    const char *key, size_t klen, const char *why)
{
	struct tls_store_head *h = head(st);

	__atomic_add_fetch(&h->seq, 1, __ATOMIC_ACQ_REL);
	memcpy(st->map + TLS_STORE_HEAD, cert, clen);
	memcpy(st->map + TLS_STORE_HEAD + clen, key, klen);
	/* what stayed of a longer key before is not left behind */
	memset(st->map + TLS_STORE_HEAD + clen + klen, 0,
	       (size_t)h->cert_len + h->key_len > clen + klen
		       ? (size_t)h->cert_len + h->key_len - clen - klen : 0);
	h->cert_len = (uint32_t)clen;
	h->key_len = (uint32_t)klen;
	snprintf(h->why, sizeof h->why, "%s", why);
	__atomic_add_fetch(&h->seq, 1, __ATOMIC_ACQ_REL);
}

void tls_store_clear(struct tls_store *st, const char *why)
{
	publish(st, "", 0, "", 0, why);
}

/* A whole file (at most max bytes) into a new buffer; its length in *len.
 * NULL with the reason in err. */
static char *read_file(const char *what, const char *path, size_t max,
		       size_t *len, char *err, size_t errsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errsz, "tls: %s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (size_t)st.st_size > max) {
		snprintf(err, errsz, "tls: %s %s: not a file of 1 to %zu bytes",
			 what, path, max);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size)) ||
	    (n = read(fd, buf, (size_t)st.st_size)) != (ssize_t)st.st_size) {
		snprintf(err, errsz, "tls: %s %s: %s", what, path,
			 n < 0 ? strerror(errno) : "short read");
		free(buf);
		buf = NULL;
		goto out;
	}
	*len = (size_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

int tls_store_load(struct tls_store *st, const char *certfile,
		   const char *keyfile, char *err, size_t errsz)
{
	size_t clen = 0, klen = 0;
	char *cert, *key = NULL;
	SSL_CTX *ctx = NULL;
	int rc = -1;

	cert = read_file("certificate", certfile, TLS_STORE_DATA / 2, &clen,
			 err, errsz);
	if (cert)
		key = read_file("key", keyfile, TLS_STORE_DATA / 2, &klen, err,
				errsz);
	if (key)
		ctx = tls_server_ctx_pem(cert, clen, certfile, key, klen,
					 keyfile, err, errsz);
	if (ctx) {
		tls_key_mode_check(keyfile, err, errsz);
		publish(st, cert, clen, key, klen, "");
		SSL_CTX_free(ctx);
		rc = 0;
	}
	if (key) {
		OPENSSL_cleanse(key, klen);
		free(key);
	}
	free(cert);
	return rc;
}

int tls_store_attach(struct tls_store *st, int fd, char *err, size_t errsz)
{
	struct stat sb;

	st->map = NULL;
	st->fd = -1;
	if (fstat(fd, &sb) < 0 || sb.st_size != TLS_STORE_SIZE) {
		snprintf(err, errsz, "tls: the certificate store (fd %d) is not one", fd);
		close(fd);
		return -1;
	}
	st->map = mmap(NULL, TLS_STORE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (st->map == MAP_FAILED ||
	    memcmp(head(st)->magic, TLS_STORE_MAGIC, 8) != 0) {
		if (st->map != MAP_FAILED)
			munmap(st->map, TLS_STORE_SIZE);
		st->map = NULL;
		snprintf(err, errsz, "tls: the certificate store does not map");
		return -1;
	}
	return 0;
}

int tls_store_from_env(struct tls_store *st, char *err, size_t errsz)
{
	const char *v = getenv(TLS_STORE_ENV);
	char *end;
	long fd;

	st->map = NULL;
	st->fd = -1;
	if (!v)
		return 0;
	fd = strtol(v, &end, 10);
	unsetenv(TLS_STORE_ENV);
	if (*end || end == v || fd < 3 || fd > INT_MAX) {
		snprintf(err, errsz, "tls: %s is not a descriptor", TLS_STORE_ENV);
		return -1;
	}
	return tls_store_attach(st, (int)fd, err, errsz) < 0 ? -1 : 1;
}

uint64_t tls_store_seq(const struct tls_store *st)
{
	return st->map ? __atomic_load_n(&head(st)->seq, __ATOMIC_ACQUIRE) : 0;
}

/* A consistent copy of the store's contents into buf (TLS_STORE_DATA
 * bytes) and h; 0, or -1 when the writer kept writing. */
static int copy_out(const struct tls_store *st, struct tls_store_head *h,
		    unsigned char *buf)
{
	const struct tls_store_head *sh = head(st);

	for (int tries = 0; tries < 1000; tries++) {
		uint64_t s1 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			usleep(100);
			continue;
		}
		memcpy(h, sh, sizeof *h);
		if ((size_t)h->cert_len + h->key_len <= TLS_STORE_DATA)
			memcpy(buf, st->map + TLS_STORE_HEAD,
			       (size_t)h->cert_len + h->key_len);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE) == s1 &&
		    h->seq == s1)
			return 0;
	}
	return -1;
}

int tls_store_tickets_rotate(struct tls_store *st)
{
	struct tls_store_head *h = head(st);
	struct tls_ticket_key k;

	if (RAND_bytes((unsigned char *)&k, sizeof k) != 1)
		return -1;
	__atomic_add_fetch(&h->tseq, 1, __ATOMIC_ACQ_REL);
	h->tk[1] = h->tk[0];
	h->tk[0] = k;
	__atomic_add_fetch(&h->tseq, 1, __ATOMIC_ACQ_REL);
	OPENSSL_cleanse(&k, sizeof k);
	return 0;
}

int tls_store_tickets(const struct tls_store *st, struct tls_ticket_key k[2])
{
	static const unsigned char none[16];
	const struct tls_store_head *sh = st->map ? head(st) : NULL;

	for (int tries = 0; sh && tries < 100; tries++) {
		uint64_t s1 = __atomic_load_n(&sh->tseq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue; /* a few stores of the writer: soon done */
		memcpy(k, sh->tk, sizeof sh->tk);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&sh->tseq, __ATOMIC_ACQUIRE) == s1)
			return memcmp(k[0].name, none, sizeof none) ? 0 : -1;
	}
	return -1;
}

SSL_CTX *tls_store_ctx(const struct tls_store *st, uint64_t *seq, int *empty,
		       char *err, size_t errsz)
{
	struct tls_store_head h;
	unsigned char *buf;
	SSL_CTX *ctx = NULL;

	*seq = 0;
	*empty = 0;
	if (!st->map) {
		snprintf(err, errsz, "tls: no certificate store");
		return NULL;
	}
	if (!(buf = malloc(TLS_STORE_DATA))) {
		snprintf(err, errsz, "tls: out of memory");
		return NULL;
	}
	if (copy_out(st, &h, buf) < 0)
		snprintf(err, errsz, "tls: the certificate store keeps changing");
	else if ((size_t)h.cert_len + h.key_len > TLS_STORE_DATA)
		snprintf(err, errsz, "tls: the certificate store is damaged");
	else if (!h.cert_len) {
		h.why[sizeof h.why - 1] = '\0';
		snprintf(err, errsz, "%s", h.why[0] ? h.why : "tls: no certificate");
		*seq = h.seq;
		*empty = 1;
	} else {
		ctx = tls_server_ctx_pem((char *)buf, h.cert_len, "(certificate)",
					 (char *)buf + h.cert_len, h.key_len,
					 "(key)", err, errsz);
		*seq = h.seq;
		/* without the store's key: OpenSSL's own, this process only */
		if (ctx && tls_store_tickets_use(ctx, st) < 0)
			ERR_clear_error();
	}
	OPENSSL_cleanse(buf, TLS_STORE_DATA);
	free(buf);
	return ctx;
}

int tls_store_pem(const struct tls_store *st, char **cert, char **key,
		  char *err, size_t errsz)
{
	struct tls_store_head h;
	unsigned char *buf = st->map ? malloc(TLS_STORE_DATA) : NULL;
	int rc = -1;

	*cert = *key = NULL;
	if (!buf)
		snprintf(err, errsz, "tls: no certificate store");
	else if (copy_out(st, &h, buf) < 0 ||
		 (size_t)h.cert_len + h.key_len > TLS_STORE_DATA)
		snprintf(err, errsz, "tls: the certificate store is unreadable");
	else if (!h.cert_len || !h.key_len)
		snprintf(err, errsz, "tls: no certificate");
	else if (!(*cert = strndup((char *)buf, h.cert_len)) ||
		 !(*key = strndup((char *)buf + h.cert_len, h.key_len)))
		snprintf(err, errsz, "tls: out of memory");
	else
		rc = 0;
	if (rc < 0) {
		free(*cert);
		free(*key);
		*cert = *key = NULL;
	}
	if (buf) {
		OPENSSL_cleanse(buf, TLS_STORE_DATA);
		free(buf);
	}
	return rc;
}
