/* qstate.h: the per-message state file queue/state/<id>, appended and
 * fsync'd by relay-send after every result, replayed at start-up and read
 * by relayctl.  One event a line (format in queue/QUEUE.md):
 *
 *   <index> <D|T|B> <time> <next> <code> <text>   a recipient's result
 *   (a B with next > 0: expired at next, the rest as the last attempt
 *   left them: time 0 when there was none)
 *   W <time>                                       delay warning sent
 *   X <time> <bounce qid>                           bounce injected
 *
 * A last line without '\n' is a torn write (crash) and is ignored. */
#ifndef QSTATE_H
#define QSTATE_H

#include <stddef.h>

#define QSTATE_TEXT_MAX 512
#define QSTATE_LINE_MAX (QSTATE_TEXT_MAX + 96)

struct qstate_rcpt {
	char status;          /* 'P' never tried, 'T' deferred, 'D', 'B' */
	int attempts;
	long long last, next; /* time of the last result, next attempt */
	long long expired;    /* B: the time queue_lifetime ran out; 0 when
				 refused (then last is the refusal's) */
	int code;             /* last SMTP code (0 when none) */
	char text[QSTATE_TEXT_MAX];
};

struct qstate {
	size_t n;
	struct qstate_rcpt *r;
	long long warned;     /* time the delay warning went, 0 = not yet */
	long long bounced;    /* time the bounce was injected, 0 = not yet */
	char bounce_qid[64];
	int file;             /* 1: state/<id> exists (loaded or appended) */
};

int qstate_init(struct qstate *s, size_t nrcpt);
void qstate_free(struct qstate *s);
/* Apply one line (without '\n'); -1 when malformed (then ignored). */
int qstate_apply(struct qstate *s, const char *line);
/* Replay a state file into s (already qstate_init'ed); a missing file is
 * an empty state (s->file stays 0).  Returns the number of lines
 * applied, -1 on read error. */
int qstate_load(const char *path, struct qstate *s);
/* Format a result line (with '\n'); the text is cleaned of control bytes
 * and cut.  Returns the length. */
size_t qstate_format(char *buf, size_t n, size_t idx, char st, long long t,
		     long long next, int code, const char *text);
/* Append buf to the state file and fsync it; 0 or -1 with errno. */
int qstate_append(const char *path, const char *buf, size_t len);
/* How many recipients are not final (not D or B). */
size_t qstate_pending(const struct qstate *s);

#endif
