/* log.h: one line per event on stderr; relay-master adds the timestamp.
 * Lines read "prog[pid]: level: text"; a queue id, when there is one,
 * starts the text ("4F2A...: from=<a@b> ..."). */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

void log_init(const char *progname);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* like log_fatal, appending ": strerror(errno)" */
void log_fatalx(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* log_batch(1): lines are kept and written together (whole lines, at
 * most PIPE_BUF bytes a write) until log_batch(0), which writes what is
 * kept; for a daemon that logs many results per wake-up.  A line with
 * strerror (log_fatalx) and log_fatal write at once. */
void log_batch(int on);
/* Bytes of lines kept by log_batch(1) and not written yet (the batch,
 * like log_batch, is the calling thread's). */
size_t log_held_bytes(void);

/* Copy peer-supplied text for one reply or frame line: control and
 * non-ASCII bytes become '?', the result is cut to dstsz-1 bytes and
 * always terminated.  Not for log lines: see log_field. */
char *log_clean(char *dst, size_t dstsz, const char *src, size_t srclen);

/* Copy a peer-supplied value (HELO, address, AUTH name, reply text) for
 * a log line: control bytes, non-ASCII bytes and the delimiters that
 * relayctl log parses ('=', '<', '>', '[', ']') become "%XX", and so
 * does '%' itself, so no value can fake a "key=", a "<address>" or an
 * "[ip]" of its own line.  Cut at a whole "%XX" to fit dstsz (at least
 * 1); always terminated. */
char *log_field(char *dst, size_t dstsz, const char *src, size_t srclen);

/* Undo log_field in place: every "%XX" becomes its byte, or, when
 * printable_only, only those of printable ASCII (for a terminal: the
 * control bytes stay encoded).  Returns the new length. */
size_t log_field_decode(char *s, int printable_only);

#endif
