/* log.c: stderr logging, one line per event. */
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_prog = "relaybox";
/* getpid() is a system call per line; the pid is kept, and forgotten in
 * a forked child (pthread_atfork runs for every fork()) */
static pid_t log_pid;

static void log_forget_pid(void)
{
	log_pid = 0;
}

static long log_getpid(void)
{
	static int registered;

	if (!registered) {
		registered = 1;
		pthread_atfork(NULL, NULL, log_forget_pid);
	}
	if (!log_pid)
		log_pid = getpid();
	return (long)log_pid;
}

void log_init(const char *progname)
{
	const char *slash = strrchr(progname, '/');
	log_prog = slash ? slash + 1 : progname;
}

/* log_batch: lines kept to be written together, whole lines only and
 * at most PIPE_BUF bytes a write, so that each write stays atomic on the
 * log pipe that every daemon shares.  Per thread: relay-queue's commit
 * threads log too, and a batch shared between threads would be a race. */
static _Thread_local char log_held[PIPE_BUF];
static _Thread_local size_t log_nheld;
static _Thread_local int log_batching;

static void log_write_held(void)
{
	size_t off = 0;

	while (off < log_nheld) {
		ssize_t w = write(2, log_held + off, log_nheld - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	log_nheld = 0;
}

void log_batch(int on)
{
	if (!on)
		log_write_held();
	log_batching = on;
}

static void log_emit(const char *level, const char *fmt, va_list ap,
		     const char *suffix)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "%s[%ld]: %s: ", log_prog,
			 log_getpid(), level);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	vsnprintf(line + n, sizeof line - n, fmt, ap);
	/* never let a stray newline split one event into two lines */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_batching && !suffix) {
		size_t len = strlen(line);
		if (log_nheld + len + 1 > sizeof log_held)
			log_write_held();
		memcpy(log_held + log_nheld, line, len);
		log_nheld += len;
		log_held[log_nheld++] = '\n';
		return;
	}
	log_write_held();
	if (suffix)
		fprintf(stderr, "%s: %s\n", line, suffix);
	else
		fprintf(stderr, "%s\n", line);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("info", fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("warning", fmt, ap, NULL);
	va_end(ap);
}

void log_fatal(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_batching = 0;
	log_emit("fatal", fmt, ap, NULL);
	va_end(ap);
	exit(status);
}

void log_fatalx(int status, const char *fmt, ...)
{
	const char *err = strerror(errno);
	va_list ap;
	va_start(ap, fmt);
	log_emit("fatal", fmt, ap, err);
	va_end(ap);
	exit(status);
}

char *log_clean(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	size_t i;
	if (dstsz == 0)
		return dst;
	for (i = 0; i < srclen && i + 1 < dstsz; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	dst[i] = '\0';
	return dst;
}

static int log_field_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && !strchr("%=<>[]", c);
}

char *log_field(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (dstsz == 0)
		return dst;
	for (size_t i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];
		if (log_field_plain(c)) {
			if (o + 1 >= dstsz)
				break;
			dst[o++] = (char)c;
			continue;
		}
		if (o + 3 >= dstsz)
			break;
		dst[o++] = '%';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 15];
	}
	dst[o] = '\0';
	return dst;
}

static int log_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

size_t log_field_decode(char *s, int printable_only)
{
	size_t i = 0, o = 0;

	while (s[i]) {
		int hi = s[i] == '%' ? log_hexval(s[i + 1]) : -1;
		int lo = hi >= 0 ? log_hexval(s[i + 2]) : -1;
		int c = hi * 16 + lo;
		if (lo >= 0 && c != 0 &&
		    (!printable_only || (c >= 0x20 && c < 0x7f))) {
			s[o++] = (char)c;
			i += 3;
		} else {
			s[o++] = s[i++];
		}
	}
	s[o] = '\0';
	return o;
}

size_t log_held_bytes(void)
{
	return log_nheld;
}
