/* send_worker.h: inside relay-send's worker module, shared by its two
 * files and by nothing else: send_worker.c (the connections to
 * relay-remote: connecting, picking a worker, sending a job, losing a
 * worker) and send_worker_result.c (a job's result frame: parsed,
 * logged, recorded, the job taken off its worker).  The module's
 * interface to the rest of relay-send is in send.h. */
#ifndef SEND_WORKER_H
#define SEND_WORKER_H

#include "send.h"
#include "ns.h"

#define SEND_WORKER_DEPTH 4     /* jobs in flight on one connection */

struct send_job {
	struct send_msg *msg;
	size_t idx[SEND_JOB_RCPT_MAX], nidx;
	long long started, deadline; /* set when it becomes the first */
	long long started_ms;   /* the same on send_worker_ms's clock */
};

struct send_worker {
	int fd;                 /* -1: not connected */
	struct ns_reader rd;
	struct send_job job[SEND_WORKER_DEPTH]; /* a ring, oldest at head */
	size_t head, njobs;     /* njobs 0: idle */
	char dest[SEND_DEST_MAX]; /* destination of the current/last job
				 * (every job on it is for that one) */
	long long last_ms;      /* how long its last job took (ms) */
	long long retry_ms;     /* next connect attempt (send_worker_ms) */
	long backoff_ms;
};

struct send_worker_res {
	char st;          /* 0: not reported */
	int code;
	const char *text;
	int nodsn;        /* D by a server without DSN, NOTIFY=SUCCESS */
};

/* send_worker.c */
/* The first job in line on w (the one relay-remote runs); NULL: idle. */
struct send_job *send_worker_head(struct send_worker *w);
/* A monotonic clock in ms (retries, how long a job took). */
long long send_worker_ms(void);
/* j is now first in line on its worker: its deadline runs. */
void send_worker_start(struct send_job *j, long long now);

/* send_worker_result.c */
/* A result frame from w's connection (it answers the first job in
 * line); -1 when it is not one. */
int send_worker_result(struct send_msgs *ms, struct send_worker *w,
		       char *payload, size_t len, long long now);
/* Record the first job's results and take it off w (the next starts). */
void send_worker_finish(struct send_msgs *ms, struct send_worker *w,
			const struct send_worker_res *res, const char *relay,
			const char *tls, long long now);
/* Free a job's recipients, customer slot and slot of dest (the
 * destination it was for); its message is due. */
void send_worker_release(struct send_msgs *ms, struct send_job *j,
			 const char *dest);

#endif
