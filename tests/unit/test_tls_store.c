// links:
/* test_tls_store.c: lib/tls_store.c, the memfd through which root hands
 * relay-smtpd the certificate and key.  Certificates made here with the
 * openssl CLI; a reader attaches to a read-only descriptor as relay-smtpd
 * does and must see each publication, never write, and be refused
 * anything but a store. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "tls_store.h"
#include "t.h"

static char dir[] = "/tmp/relaybox-test-store-XXXXXX";
static char cert1[300], key1[300], cert2[300], key2[300], junk[300];

static int make_certs(void)
{
	char cmd[2048];

	snprintf(cert1, sizeof cert1, "%s/c1.pem", dir);
	snprintf(key1, sizeof key1, "%s/k1.pem", dir);
	snprintf(cert2, sizeof cert2, "%s/c2.pem", dir);
	snprintf(key2, sizeof key2, "%s/k2.pem", dir);
	snprintf(junk, sizeof junk, "%s/junk.pem", dir);
	snprintf(cmd, sizeof cmd,
		 "cd %s && exec >log 2>&1 && for n in 1 2; do "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout k$n.pem -out c$n.pem -days 2 -subj /CN=store$n "
		 "|| exit 1; done && chmod 600 k1.pem k2.pem && "
		 "printf 'not a key\\n' >junk.pem", dir);
	return system(cmd);
}

/* The CN of the certificate a context built from the store serves. */
static int served_cn(const struct tls_store *st, char *cn, size_t n,
		     int *empty, char *err, size_t errsz)
{
	uint64_t seq;
	SSL_CTX *ctx = tls_store_ctx(st, &seq, empty, err, errsz);
	X509 *x = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;

	cn[0] = '\0';
	if (x)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
					  NID_commonName, cn, (int)n);
	SSL_CTX_free(ctx);
	return x != NULL;
}

static void test_publish(void)
{
	struct tls_store w, r;
	char err[512], cn[64];
	uint64_t s0, s1;
	int fd, empty;

	T_CHECK("create a store", tls_store_create(&w) == 0);
	fd = tls_store_ro_fd(&w);
	T_CHECK("a read-only descriptor for the child", fd >= 0);
	T_CHECK("the reader attaches", tls_store_attach(&r, fd, err, sizeof err) == 0);
	T_CHECK("attach closed the descriptor", fcntl(fd, F_GETFD) < 0);
	T_CHECK("empty store: no context, empty=1, the reason",
		!served_cn(&r, cn, sizeof cn, &empty, err, sizeof err) &&
		    empty == 1 && strstr(err, "no certificate") != NULL);
	s0 = tls_store_seq(&r);
	T_CHECK("load certificate 1",
		tls_store_load(&w, cert1, key1, err, sizeof err) == 0 && !err[0]);
	s1 = tls_store_seq(&r);
	T_CHECK("the reader sees a new, even sequence number",
		s1 != s0 && !(s1 & 1));
	T_CHECK("the reader's context serves certificate 1",
		served_cn(&r, cn, sizeof cn, &empty, err, sizeof err) &&
		    strcmp(cn, "store1") == 0);
	T_CHECK("mismatched key refused, named",
		tls_store_load(&w, cert2, key1, err, sizeof err) < 0 &&
		    strstr(err, key1) != NULL && strstr(err, "mismatch") != NULL);
	T_CHECK("junk key refused", tls_store_load(&w, cert2, junk, err,
						   sizeof err) < 0 &&
					strstr(err, junk) != NULL);
	T_CHECK("missing key refused with errno text",
		tls_store_load(&w, cert2, "/nonexistent/k.pem", err, sizeof err) < 0 &&
		    strstr(err, "No such file") != NULL);
	T_CHECK("refusals leave the store as it was",
		tls_store_seq(&r) == s1 &&
		    served_cn(&r, cn, sizeof cn, &empty, err, sizeof err) &&
		    strcmp(cn, "store1") == 0);
	T_CHECK("load certificate 2", tls_store_load(&w, cert2, key2, err,
						     sizeof err) == 0);
	T_CHECK("the reader now serves certificate 2",
		served_cn(&r, cn, sizeof cn, &empty, err, sizeof err) &&
		    strcmp(cn, "store2") == 0);
	tls_store_clear(&w, "tls: key gone: STARTTLS answers 454");
	T_CHECK("cleared: the reason reaches the reader",
		!served_cn(&r, cn, sizeof cn, &empty, err, sizeof err) &&
		    empty == 1 && strstr(err, "key gone") != NULL);
	T_CHECK("the reader's mapping is read-only",
		mprotect(r.map, 4096, PROT_READ | PROT_WRITE) < 0);
	munmap(r.map, TLS_STORE_SIZE);
	munmap(w.map, TLS_STORE_SIZE);
	close(w.fd);
}

static void test_refusals(void)
{
	struct tls_store r, w;
	char err[512], path[400];
	int fd;

	snprintf(path, sizeof path, "%s/c1.pem", dir);
	fd = open(path, O_RDONLY);
	T_CHECK("a plain file is no store",
		tls_store_attach(&r, fd, err, sizeof err) < 0 && r.map == NULL);
	T_CHECK("no variable: no store (0)",
		unsetenv(TLS_STORE_ENV) == 0 &&
		    tls_store_from_env(&r, err, sizeof err) == 0);
	setenv(TLS_STORE_ENV, "1", 1);
	T_CHECK("stdio is never a store",
		tls_store_from_env(&r, err, sizeof err) < 0 &&
		    getenv(TLS_STORE_ENV) == NULL);
	tls_store_create(&w);
	fd = tls_store_ro_fd(&w);
	snprintf(path, sizeof path, "%d", fd);
	setenv(TLS_STORE_ENV, path, 1);
	T_CHECK("the variable names the store: mapped, variable gone",
		tls_store_from_env(&r, err, sizeof err) == 1 && r.map &&
		    getenv(TLS_STORE_ENV) == NULL);
	T_CHECK("a read-only descriptor cannot grow the store",
		ftruncate(tls_store_ro_fd(&w), 0) < 0);
	snprintf(path, sizeof path, "/proc/self/fd/%d", tls_store_ro_fd(&w));
	fd = open(path, O_RDWR);
	T_CHECK("opened again for writing through /proc: write refused",
		fd < 0 || write(fd, "x", 1) < 0);
	T_CHECK("... and no shared writable mapping",
		fd < 0 || mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fd, 0) == MAP_FAILED);
	T_CHECK("... nor a new size", fd < 0 || ftruncate(fd, 4096) < 0);
	T_CHECK("the writer's own mapping still writes",
		tls_store_load(&w, cert1, key1, path, sizeof path) == 0);
	munmap(r.map, TLS_STORE_SIZE);
	munmap(w.map, TLS_STORE_SIZE);
	close(w.fd);
}

int main(void)
{
	char cmd[400];

	if (!mkdtemp(dir) || make_certs() != 0) {
		printf("FAIL making test certificates in %s\n", dir);
		return 1;
	}
	test_publish();
	test_refusals();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("FAIL removing %s\n", dir);
	return t_done();
}
