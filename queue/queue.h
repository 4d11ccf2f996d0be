/* queue.h: relay-queue, durable injection into the queue (the qmail-queue
 * contract: message on fd 0, envelope on fd 1, the verdict in the exit
 * status).  The modules:
 *   queue_env      envelope reading and parsing (hostile input)
 *   queue_spool    holding the message until the envelope has arrived
 *   queue_received the Received header and the RFC 5322 date
 *   queue_dirs     queue directories, ids, the trigger FIFO
 *   queue_inject   one injection: tmp/<id>, fsync, rename into new/
 *   queue_listen   the daemon: run/queue.sock, op=inject with two fds */
#ifndef QUEUE_H
#define QUEUE_H

#include <stddef.h>
#include <sys/types.h>

#include "qfile.h"

#define QUEUE_ENV_MAX (32L * 1024 * 1024)  /* envelope bytes */
#define QUEUE_RCPT_MAX 100000

/* ---- envelope (queue_env.c) ---- */
/* Read fd until EOF into a malloc'd buffer; 0, or -1 (errno) on error
 * or when longer than QUEUE_ENV_MAX (errno EFBIG). */
int queue_env_read(int fd, char **buf, size_t *len);
/* Parse "I<k>=<v>\0"... "F<sender>\0" "T<rcpt>\0"... "\0" into q's info,
 * from and rcpt (pointers into buf, which must outlive q; q->hdr stays
 * NULL).  0, or -1 with a reason in err (a permanent failure). */
int queue_env_parse(char *buf, size_t len, struct qfile *q, char *err,
		    size_t errsz);

/* ---- spool (queue_spool.c) ---- */
struct queue_spool {
	char *mem;
	size_t len, cap;
	int fd;          /* overflow file (unlinked), -1 until needed */
	const char *dir; /* where the overflow file goes */
	off_t total;
};
void queue_spool_init(struct queue_spool *s, const char *dir);
/* Read fd to EOF into the spool; 0, or -1 with errno. */
int queue_spool_fill(struct queue_spool *s, int fd);
/* Write the spooled message to fd (at its current position). */
int queue_spool_copy(struct queue_spool *s, int fd);
void queue_spool_free(struct queue_spool *s);

/* ---- Received header (queue_received.c) ---- */
/* The Received header for q (info, rcpt) with id qid, CRLF-terminated
 * and folded; returns a malloc'd string or NULL. */
char *queue_received(const struct qfile *q, const char *hostname,
		     long long now);

/* ---- directories, ids, trigger (queue_dirs.c) ---- */
/* Create queue/{tmp,new,state,hold} and the trigger FIFO when missing
 * (a non-root developer's run; relay-master creates them as root). */
int queue_dirs_ensure(const char *qdir);
/* A new id: seconds, microseconds, pid and a counter in uppercase hex. */
void queue_dirs_newid(char *id, size_t n);
/* Write one byte to qdir/trigger without blocking (no reader is fine). */
void queue_dirs_trigger(const char *qdir);
/* Remove tmp/ files older than age seconds: left by a crash (stage 2
 * of queue/QUEUE.md).  The daemon does it at start. */
void queue_dirs_sweep(const char *qdir, long long now, long age);
/* fsync a directory; 0 or -1. */
int queue_dirs_sync(const char *dir);
/* The current time; one place so tests can use faketime. */
long long queue_now(void);

/* ---- injection (queue_inject.c) ---- */
struct queue_result {
	int status;         /* EXIT_DONE, EXIT_PERM, EXIT_TEMP */
	char qid[QFILE_ID_MAX];
	char text[256];
};
/* Read the message from msgfd and the envelope from envfd, queue it.
 * The exit status and reason are in r. */
void queue_inject(int msgfd, int envfd, struct queue_result *r);

/* ---- daemon (queue_listen.c) ---- */
/* Serve run/queue.sock until killed; privileges are dropped inside
 * after binding. */
int queue_listen_run(void);

#endif
