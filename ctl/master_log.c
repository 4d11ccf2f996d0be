/* master_log.c: every daemon's stderr comes through one pipe; relay-master
 * cuts it into lines, prefixes a timestamp ("2026-11-23T12:00:00.123 ")
 * and appends them to cf.log_file (reopened on SIGHUP for logrotate), to
 * syslog when cf.log_syslog, and to its own stderr with -f.  Log lines are
 * shorter than PIPE_BUF, so writes from different daemons never mix. */
#include "master.h"
#include "privs.h"
#include "exitcodes.h"
#include "log.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192

static int log_file_fd = -1;
static int log_pipe[2] = { -1, -1 };
static int log_echo;
static char log_buf[LOG_LINE_MAX];
static size_t log_len;

/* The date and time to the second changes once a second: strftime and
 * localtime_r (a few hundred instructions) only then, not per line. */
void master_log_stamp(char *buf, size_t n)
{
	static time_t last = -1;
	static char sec[32];
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != last) {
		localtime_r(&tv.tv_sec, &tm);
		strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
		last = tv.tv_sec;
	}
	snprintf(buf, n, "%s.%03ld", sec, (long)(tv.tv_usec / 1000));
}

static int log_priority(const char *line)
{
	if (strstr(line, "]: fatal: "))
		return LOG_ERR;
	if (strstr(line, "]: warning: "))
		return LOG_WARNING;
	return LOG_INFO;
}

/* Lines waiting for one write to the file (and the echo): what one
 * drain of the pipe brings goes out in one system call, not one per
 * line.  Lines are complete here, so a file write never splits one. */
static char out_buf[65536];
static size_t out_len;

static void log_flush(void)
{
	if (!out_len)
		return;
	if (log_file_fd >= 0 && write(log_file_fd, out_buf, out_len) < 0) {
		/* nowhere better to say it: stderr, once per failure */
		(void)!write(2, "relay-master: log write failed\n", 31);
	}
	if (log_echo)
		(void)!write(2, out_buf, out_len);
	out_len = 0;
}

/* Add one line (no newline in it) to the batch, and to syslog. */
static void log_emit(const char *line, size_t len)
{
	char stamp[40];
	char *out;
	size_t i, n, start;

	if (sizeof out_buf - out_len < LOG_LINE_MAX + 64)
		log_flush();
	out = out_buf + out_len;
	master_log_stamp(stamp, sizeof stamp);
	n = (size_t)snprintf(out, LOG_LINE_MAX + 64, "%s ", stamp);
	start = n;
	/* an ASan report or a stray byte must not break the one-line format */
	for (i = 0; i < len && n + 2 < LOG_LINE_MAX + 64; i++) {
		unsigned char c = (unsigned char)line[i];
		out[n++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
	}
	if (cf.log_syslog) {
		out[n] = '\0';
		syslog(log_priority(out), "%s", out + start);
	}
	out[n++] = '\n';
	out_len += n;
}

/* Root: the log and its folder (when root's) get the group of
 * user_metrics, so relay-metrics' log search reads them (mode 0640, 0750:
 * nobody else).  An instance without that group keeps root's. */
static void log_share(int fd)
{
	struct group *gr = privs_is_root() ? getgrnam(cf.user_metrics) : NULL;
	struct stat st;

	if (gr && fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 0 &&
	    fchown(fd, (uid_t)-1, gr->gr_gid) < 0)
		master_log("warning", "chgrp %s: %s", cf.log_file,
			   strerror(errno));
}

static int log_open_file(void)
{
	int fd = open(cf.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0640);

	log_share(fd);
	return fd;
}

static void log_make_dir(void)
{
	char path[PATH_MAX];
	char *slash;
	int fd;

	if (strlen(cf.log_file) >= sizeof path)
		log_fatal(EXIT_PERM, "path too long: %s", cf.log_file);
	strcpy(path, cf.log_file);
	slash = strrchr(path, '/');
	if (!slash || slash == path)
		return;
	*slash = '\0';
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		log_fatalx(EXIT_TEMP, "create %s", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	log_share(fd);
	if (fd >= 0)
		close(fd);
}

int master_log_open(int echo_stderr)
{
	log_echo = echo_stderr;
	log_make_dir();
	log_file_fd = log_open_file();
	if (log_file_fd < 0)
		log_fatalx(EXIT_TEMP, "open %s", cf.log_file);
	if (cf.log_syslog)
		openlog("relaybox", LOG_NDELAY | LOG_PID, LOG_MAIL);
	if (pipe2(log_pipe, O_CLOEXEC) < 0)
		log_fatalx(EXIT_TEMP, "pipe");
	fcntl(log_pipe[0], F_SETFL, fcntl(log_pipe[0], F_GETFL) | O_NONBLOCK);
	/* room for the lines that come while relay-master pauses between
	 * drains (master_loop.c); best effort: the default 64 KiB holds
	 * ~50 ms of a busy relay's lines, ten pauses */
	(void)fcntl(log_pipe[0], F_SETPIPE_SZ, 1 << 20);
	return log_pipe[1];
}

int master_log_fd(void)
{
	return log_pipe[0];
}

void master_log_reopen(void)
{
	int fd = log_open_file();

	if (fd < 0) {
		master_log("warning", "reopen %s: %s (keeping the old file)",
			   cf.log_file, strerror(errno));
		return;
	}
	if (log_file_fd >= 0)
		close(log_file_fd);
	log_file_fd = fd;
	master_log("info", "log reopened");
}

/* Emit every complete line in the buffer; keep the partial tail. */
static void log_split(void)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(log_buf + start, '\n', log_len - start))) {
		log_emit(log_buf + start, (size_t)(nl - (log_buf + start)));
		start = (size_t)(nl - log_buf) + 1;
	}
	memmove(log_buf, log_buf + start, log_len - start);
	log_len -= start;
	if (log_len == sizeof log_buf) { /* a line longer than the buffer */
		log_emit(log_buf, log_len);
		log_len = 0;
	}
}

void master_log_drain(void)
{
	ssize_t r;
	int rounds;

	/* bounded so that a flood cannot starve signal handling */
	for (rounds = 0; rounds < 64; rounds++) {
		r = read(log_pipe[0], log_buf + log_len, sizeof log_buf - log_len);
		if (r <= 0)
			break;
		log_len += (size_t)r;
		log_split();
	}
	log_flush();
}

void master_log(const char *level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	n = snprintf(line, sizeof line, "relay-master[%ld]: %s: ",
		     (long)getpid(), level);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (log_file_fd < 0 && !log_echo) {
		fprintf(stderr, "%s\n", line); /* before the log is open */
		return;
	}
	log_emit(line, strlen(line));
	log_flush();
}

void master_fatal(int errno_too, const char *fmt, ...)
{
	char text[1024];
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (errno_too)
		master_log("fatal", "%s: %s", text, err);
	else
		master_log("fatal", "%s", text);
	exit(EXIT_TEMP);
}
