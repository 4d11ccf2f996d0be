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

/* Copy peer-supplied text for logging: control and non-ASCII bytes become
 * '?', the result is cut to dstsz-1 bytes and always terminated. */
char *log_clean(char *dst, size_t dstsz, const char *src, size_t srclen);

#endif
