/* master.h: relay-master's modules, shared between its own files only.
 * master_layout.c creates the instance directories, master_log.c turns
 * the daemons' stderr into the timestamped log, master_child.c starts,
 * reaps and restarts the daemons, master_watch.c kills one that hangs,
 * master_ready.c decides when the relay is up, master_loop.c is the
 * signal/poll loop. */
#ifndef MASTER_H
#define MASTER_H

#include <poll.h>
#include <sys/types.h>
#include <time.h>

/* master_layout.c */
/* Create DIR/run, log, queue/{tmp,new,state,hold}, queue/trigger,
 * secrets with their owners and modes (owners only when root).
 * Exits with a message on failure. */
void master_layout_create(void);

/* master_run.c */
/* Write run/<name> whole (run/<name>.tmp created anew with
 * O_EXCL|O_NOFOLLOW, then renamed); 0, or -1 after a warning. */
int master_run_write(const char *name, const char *text);
void master_run_remove(const char *name);

/* master_log.c */
/* Create the log's directory, open cf.log_file (and syslog when
 * cf.log_syslog); echo to stderr too
 * when echo_stderr.  Returns the write end of the pipe that children get
 * as stderr; the read end is master_log_fd(). */
int master_log_open(int echo_stderr);
int master_log_fd(void);
/* Reopen the log file (SIGHUP, after logrotate moved it). */
void master_log_reopen(void);
/* Read what the children wrote; complete lines go to the log. */
void master_log_drain(void);
/* One line of the master's own, in the children's format
 * ("relay-master[pid]: level: text"). */
void master_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Log a fatal line (with strerror(errno) when errno_too) and exit 111. */
void master_fatal(int errno_too, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* "2026-11-23T12:00:00.123" for now, into buf (at least 24 bytes). */
void master_log_stamp(char *buf, size_t n);

/* master_child.c */
struct master_child {
	const char *name;       /* "relay-policy" */
	const char *args;       /* extra argument, NULL or "-l" */
	char **user;            /* &cf.user_policy: the uid it drops to */
	const char *sock;       /* run/ socket that shows it is up, or NULL */
	pid_t pid;              /* 0 when not running */
	int present;            /* the binary exists */
	time_t started;         /* last start (wall clock, for status) */
	double started_mono;    /* last start (monotonic) */
	double next_start;      /* monotonic time of the next allowed start */
	int restarts;           /* starts after the first */
	int quick_deaths;       /* consecutive deaths soon after start */
	int hang_kills;         /* consecutive kills as hung (master_child.c) */
	int hang_killed;        /* this start was killed as hung */
	int admit_key;          /* gets the admission key (lib/admit.h) */
	int tls_store;          /* gets the TLS certificate and key (master_tls.c) */
	int off_path;           /* not on the mail path: readiness skips it */
	int notifies;           /* says when it serves (lib/notify.h) */
	int notify_fd;          /* read end of that pipe, -1 when closed */
	int serving;            /* said so since its last start */
	int slow_said;          /* logged that it has not, this start */
	double ready_mono;      /* monotonic time of its ready byte */
	double last_beat;       /* monotonic time of its last byte there */
	int stop_sig;           /* stops it with the relay, also as its
				 * parent-death signal; 0: SIGTERM */
};

void master_child_init(const char *bindir, int errfd);
/* Start every daemon that is not running and whose time has come;
 * returns the seconds until the next pending start (or -1: none). */
double master_child_start_due(void);
/* Reap exited children and schedule their restarts. */
void master_child_reap(void);
/* SIGTERM every child, wait up to grace seconds, SIGKILL the rest. */
void master_child_stop_all(double grace);
/* The readiness pipes to wait on: fills pf[0..NCHILDREN) (fd -1 for
 * none) and returns how many entries it used. */
int master_child_notify_poll(struct pollfd *pf, int max);
/* After poll: read what those pipes say (entries as filled above). */
void master_child_notify_read(const struct pollfd *pf, int n);
/* Close c's readiness pipe: not serving (until a new start says so). */
void master_child_notify_close(struct master_child *c);
/* Write run/status (atomically). */
void master_child_write_status(void);
/* Iterate: NULL after the last. */
struct master_child *master_child_at(int i);
double master_now(void);

/* master_leftover.c */
/* Before any daemon starts: when a relay-send (of an earlier run whose
 * master died) still holds the queue's lock (lib/sendlock.h), wait a
 * few seconds for it to stop, then exit with a fatal line naming it and
 * the earlier run's other daemons that still run. */
void master_leftover_check(void);

/* master_ready.c */
/* 1 when every present daemon runs, its socket exists, relay-listen
 * said it listens (lib/notify.h) and every listen address is in LISTEN
 * state. */
int master_ready_check(void);
/* The same without reading /proc (cheap: for every loop round once
 * ready); *listener = 1 when relay-listen is installed. */
int master_ready_daemons(int *listener);
/* 1 when the TCP address "host:port" / "[v6]:port" is listening. */
int master_ready_listening(const char *addr);

/* master_watch.c */
/* At start: the limit to apply, daemon_hang_timeout or, when it leaves
 * no room for relay-policy's waits for Redis, more (logged). */
void master_watch_init(void);
/* Each round of the loop: read the beats of the daemons that serve and
 * SIGKILL one silent for daemon_hang_timeout seconds (not serving from
 * then on; reaped and restarted as one that died); name, once per start,
 * one that has not said it serves after as long. */
void master_watch_beats(void);

/* master_tls.c */
/* Make the certificate store and load tls_cert/tls_key (when set), with
 * the outcome in run/reload as master_tls_sighup writes it. */
void master_tls_init(void);
/* SIGHUP: load them again, write run/reload with the outcome. */
void master_tls_sighup(void);
/* Rotate the session-ticket key when its time has come (each loop round). */
void master_tls_tick(void);
/* In relay-listen's child before exec: the store on TLS_STORE_FD; 1 when
 * it is there, 0 when there is none. */
int master_tls_to_child(void);

/* master_loop.c */
/* Run until SIGTERM/SIGINT; returns the exit status. */
int master_loop_run(void);

#endif
