/* tls_store.h: the server certificate and key as relay-smtpd gets them:
 * read by root, never by relay-smtpd's own uid.
 *
 * relay-master (root) reads tls_cert and tls_key at its start and again at
 * each SIGHUP (relayctl reload), checks that they load and match, and
 * writes them into a memfd of fixed size (this store).  relay-listen gets
 * a read-only descriptor of it on fd TLS_STORE_FD with TLS_STORE_ENV=3 in
 * its environment, and so does every relay-smtpd it starts (inherited, not
 * close-on-exec).  relay-smtpd maps it read-only and closes the fd; before
 * each TLS handshake it compares the store's sequence number with the one
 * its context was built from, and builds a new context when the master
 * published another certificate.  The key is thus in the memory of
 * relay-master and of every relay-smtpd, and nowhere on disk but the
 * operator's own file.  A relay-smtpd started without the store (UCSPI:
 * tcpserver, systemd) makes a store of its own from the files before it
 * drops root.
 *
 * The store: a header page, then the certificate chain (PEM) and the key
 * (PEM).  A seqlock guards it: the one writer makes seq odd, writes,
 * makes it even again; a reader copies and retries while seq was odd or
 * moved.  An empty store (no certificate) carries the reason instead. */
#ifndef TLS_STORE_H
#define TLS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#define TLS_STORE_FD 3
#define TLS_STORE_ENV "RELAYBOX_TLS_STORE"
#define TLS_STORE_SIZE (1024 * 1024)  /* header + chain + key */
#define TLS_STORE_HEAD 4096

struct tls_store {
	unsigned char *map;  /* TLS_STORE_SIZE bytes, NULL: no store */
	int fd;              /* the writer's memfd, else -1 */
};

/* The writer's side (relay-master, or a UCSPI relay-smtpd for itself):
 * a new empty store; -1 with errno. */
int tls_store_create(struct tls_store *st);
/* A new read-only descriptor of the writer's store (close-on-exec), for
 * a child; -1 with errno. */
int tls_store_ro_fd(const struct tls_store *st);
/* Read certfile and keyfile (as the caller: root), check that they make
 * a server context, and publish them.  0, or -1 with the reason in err
 * and the store as it was.  On success err holds a warning for the log
 * when group or other may read the key, else "". */
int tls_store_load(struct tls_store *st, const char *certfile,
		   const char *keyfile, char *err, size_t errsz);
/* Publish "no certificate" with the reason (shown by relay-smtpd's 454
 * log line). */
void tls_store_clear(struct tls_store *st, const char *why);

/* The reader's side: map fd read-only (and close it).  0, or -1 with
 * the reason in err. */
int tls_store_attach(struct tls_store *st, int fd, char *err, size_t errsz);
/* The descriptor named by TLS_STORE_ENV, mapped (the variable and the
 * descriptor go away: nothing relay-smtpd starts sees them).  1 when
 * there was one and it mapped, 0 when there was none, -1 with err. */
int tls_store_from_env(struct tls_store *st, char *err, size_t errsz);
/* The sequence number of what the store holds now (even). */
uint64_t tls_store_seq(const struct tls_store *st);
/* A server context from what the store holds; *seq gets its sequence
 * number.  NULL with the reason in err when it holds no certificate
 * (*empty = 1: the writer logged why) or the context failed (*empty = 0). */
SSL_CTX *tls_store_ctx(const struct tls_store *st, uint64_t *seq, int *empty,
		       char *err, size_t errsz);

/* Session tickets (RFC 8446 4.6.1, RFC 5077).  The store also holds the
 * key that tickets are encrypted under, so that every context made from
 * it (every relay-smtpd worker) issues and takes the same tickets: a
 * client resumes on whichever worker gets its next connection.  The
 * writer makes a key with the store and a new one at each
 * tls_store_tickets_rotate (relay-master: every TLS_TICKET_ROTATE
 * seconds); the one before still opens tickets (which are then
 * renewed), the one before that is overwritten.  A ticket lives
 * TLS_TICKET_ROTATE seconds, so its key outlives it.  Never on disk. */
#define TLS_TICKET_ROTATE 3600
struct tls_ticket_key {
	unsigned char name[16], aes[32], hmac[32];
};
/* The writer: a new current key, the current one becomes the previous.
 * 0, or -1 when no random bytes could be had (the keys stay). */
int tls_store_tickets_rotate(struct tls_store *st);
/* The reader: k[0] the current key, k[1] the previous (name all zero:
 * none).  0, or -1 when the store holds none or the writer is writing
 * (the caller never waits: it runs among other sessions). */
int tls_store_tickets(const struct tls_store *st, struct tls_ticket_key k[2]);
/* ctx issues and opens tickets under st's keys (tls_ticket.c); st must
 * outlive ctx.  tls_store_ctx calls it when the store holds a key. */
int tls_store_tickets_use(SSL_CTX *ctx, const struct tls_store *st);

/* Copies of the certificate chain and key (PEM, NUL-terminated, the
 * caller frees them: cleanse the key) for a server that wants PEM text
 * (relay-metrics' libmicrohttpd).  0, or -1 with the reason in err. */
int tls_store_pem(const struct tls_store *st, char **cert, char **key,
		  char *err, size_t errsz);

#endif
