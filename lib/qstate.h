/* qstate.h: the per-message state file queue/state/<id>, appended and
 * fsync'd by relay-send after every result, replayed at start-up and read
 * by relayctl.  One event a line (format in queue/QUEUE.md):
 *
 *   <index> <D|T|B> <time> <next> <code> <text>   a recipient's result
 *   (a B with next > 0: expired at next, the rest as the last attempt
 *   left them: time 0 when there was none)
 *   W <time>                                       delay warning sent
 *   X <time> <bounce qid>                           bounce injected
 *   R <index>                 a success notice owed for that recipient
 *   S <time> <notice qid>     the owed success notices injected
 *
 * On disk each line ends in a TAB and its check (QSTATE_CHECK_LEN):
 * the CRC-32 of the file's name, '\n' and the line.  A line whose check
 * is wrong (a fragment a full disk or a crash left, glued to the next
 * line; zeros; another file's old blocks) is ignored: "no result", so a
 * duplicate at worst, never a recipient read as done.  A line with no
 * check (written before checks existed) is read only before the first
 * line that has one.  A last line without '\n' is a torn write and is
 * ignored. */
#ifndef QSTATE_H
#define QSTATE_H

#include <stddef.h>

#define QSTATE_TEXT_MAX 512
#define QSTATE_LINE_MAX (QSTATE_TEXT_MAX + 96)
#define QSTATE_CHECK_LEN 9 /* "\t" and 8 lowercase hex digits */

struct qstate_rcpt {
	char status;          /* 'P' never tried, 'T' deferred, 'D', 'B' */
	int attempts;
	long long last, next; /* time of the last result, next attempt */
	long long expired;    /* B: the time queue_lifetime ran out; 0 when
				 refused (then last is the refusal's) */
	int code;             /* last SMTP code (0 when none) */
	int owed;             /* a success notice ("relayed") is owed: it
				 could not be queued at delivery (R line) */
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
/* Append buf's lines to the state file, each with its check, and fsync
 * it; 0 or -1 with errno.  The lines start on a line of their own (a
 * file that does not end in '\n' gets one first), and an append that
 * fails is cut off again (best effort: a check guards what remains). */
int qstate_append(const char *path, const char *buf, size_t len);
/* How many recipients are not final (not D or B). */
size_t qstate_pending(const struct qstate *s);
/* How many recipients are owed a success notice (R lines since the
 * last S line). */
size_t qstate_owed(const struct qstate *s);

#endif
