/* qfile.h: the queue file (queue/new/<id>): a text header with the
 * envelope, an empty line, then the message (Received header first, CRLF
 * line ends).  Written by relay-queue; read by relay-send, relay-remote
 * and relayctl.  The format is documented in queue/QUEUE.md:
 *
 *   relaybox-queue 1\n
 *   seal=<64 hex: the file's SHA-256, see QFILE_SEAL_OFF>\n
 *   qid=<id>\n  time=<arrival, unix seconds>\n
 *   info lines from the envelope (ip=, helo=, auth=, tls=, proto=,
 *     smtputf8=, customer=)\n
 *   from=<sender, empty for <>>\n
 *   rcpt=<recipient>\n ... (recipient index = order, from 0), each
 *     followed by its DSN parameters when it has any (lib/dsn.h):
 *     dsn_rcpt=<index> <NOTIFY or -> <ORCPT or ->\n
 *   \n
 *   <message>
 */
#ifndef QFILE_H
#define QFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "dsn.h"

#define QFILE_MAGIC "relaybox-queue 1"
#define QFILE_ID_MAX 64
#define QFILE_INFO_MAX 16
/* The longest header: readers refuse a longer one, qfile_format will not
 * make one (an envelope under QUEUE_ENV_MAX can expand past it). */
#define QFILE_HEADER_MAX (32L * 1024 * 1024)
/* The seal: the second line, "seal=" and 64 hex digits, the SHA-256 of
 * the whole file with those 64 characters taken as '0'.  Written as
 * zeros with the file, filled in by relay-queue's commit just before the
 * file's fsync: a file whose seal is right was whole when synced
 * (queue/QUEUE.md, "The seal").  Readers other than relay-queue ignore
 * it. */
#define QFILE_SEAL_KEY "seal"
#define QFILE_SEAL_HEX 64
#define QFILE_SEAL_OFF (sizeof QFILE_MAGIC - 1 + 1 + sizeof QFILE_SEAL_KEY)

struct qfile_info {
	char *key, *value;
};

struct qfile {
	char qid[QFILE_ID_MAX];
	long long arrival;            /* unix seconds */
	char *from;                   /* "" for the null sender */
	char **rcpt;                  /* nrcpt recipients, index = position */
	size_t nrcpt;
	struct dsn_rcpt *dsn;         /* NULL (no recipient has DSN
					 parameters: files before them too),
					 else one per recipient */
	size_t dsncap;
	struct qfile_info info[QFILE_INFO_MAX];
	size_t ninfo;
	off_t body;                   /* offset of the message in the file */
	off_t size;                   /* size of the whole file */
	char *hdr;                    /* storage behind every pointer above */
};

/* Read and check the header of an open queue file (position anywhere);
 * 0, or -1 with a reason in err and errno EBADMSG when the file is no
 * whole queue file (damaged: it will not read better later), else the
 * system's (ENOMEM, EIO...).  Free with qfile_free.  The same errno for
 * the readers below. */
int qfile_read(int fd, struct qfile *q, char *err, size_t errsz);
/* The same from memory: the first len bytes of a queue file of size
 * bytes (the message may follow the header in buf); 0, or -1 with a
 * reason ("header longer than the read" when buf ends inside it). */
int qfile_parse(struct qfile *q, const char *buf, size_t len, off_t size,
		char *err, size_t errsz);
/* Open path and read its header; the fd is closed. */
int qfile_load(const char *path, struct qfile *q, char *err, size_t errsz);
/* The same from an open file, read from its start. */
int qfile_load_fd(int fd, struct qfile *q, char *err, size_t errsz);
void qfile_free(struct qfile *q);

/* Is s a queue id: uppercase hex, shorter than QFILE_ID_MAX?  Anything
 * else is not a name relay-queue gives (and never a path). */
int qfile_id_ok(const char *s);
/* The info key naming the customer the message was relayed for (from
 * relay-policy's verdict; absent for bounces): relay-send schedules by
 * it, relayctl queue customers counts by it. */
#define QFILE_INFO_CUSTOMER "customer"
/* The info key "smtputf8=yes": the client asked for SMTPUTF8 (RFC 6531)
 * in its MAIL; relay-remote asks it of a next hop that offers it.  A
 * file without it (every file before it) had no SMTPUTF8. */
#define QFILE_INFO_SMTPUTF8 "smtputf8"
#define QFILE_INFO_YES "yes"
/* Value of an info key (ip, helo, ...) or NULL. */
const char *qfile_get_info(const struct qfile *q, const char *key);

/* Format the header of q (qid, arrival, info, from, rcpt) as a malloc'd
 * string ending with the empty line; NULL with errno ENOMEM, or EMSGSIZE
 * when it would be longer than QFILE_HEADER_MAX, which the readers
 * refuse: a file nobody can read is never written. */
char *qfile_format(const struct qfile *q, size_t *len);

/* Append a recipient (not copied) to q->rcpt, which has room for *cap
 * (grown as needed; start with 0); 0 or -1 when out of memory. */
int qfile_add_rcpt(struct qfile *q, char *addr, size_t *cap);

/* Recipient i's DSN parameters (r->orcpt is not copied); 0 or -1 when
 * out of memory. */
int qfile_set_dsn(struct qfile *q, size_t i, const struct dsn_rcpt *r);
/* Recipient i's DSN parameters; none given: notify 0, orcpt NULL. */
struct dsn_rcpt qfile_dsn(const struct qfile *q, size_t i);

/* 1 when a header value is acceptable: no control bytes (so it cannot
 * forge a line), at most max bytes. */
int qfile_value_ok(const char *v, size_t max);

#endif
