/* ctl.h: relayctl's subcommands.  relayctl_main.c holds the table of
 * command names to these handlers; each lives in its own ctl_<name>.c.
 * A handler gets argv after the command name and returns an exit status.
 * settings (cf) are loaded before a handler runs; stop and status run
 * even when relay.conf has an error (ctl_conf_error). */
#ifndef CTL_H
#define CTL_H

#include <stdio.h>

int ctl_start(int argc, char **argv);    /* ctl_master.c */
int ctl_stop(int argc, char **argv);     /* ctl_master.c */
int ctl_status(int argc, char **argv);   /* ctl_master.c */
int ctl_log(int argc, char **argv);      /* ctl_log.c */
int ctl_explain(int argc, char **argv);  /* ctl_explain.c (policy) */
int ctl_stats(int argc, char **argv);    /* ctl_stats.c (rate counters) */
int ctl_queue(int argc, char **argv);    /* ctl_queue.c: list show hold release delete flush */
int ctl_suspend(int argc, char **argv);  /* ctl_suspend.c: suspend/unsuspend */
int ctl_dkim(int argc, char **argv);     /* ctl_dkim.c: keygen show check */
int ctl_passwd(int argc, char **argv);   /* ctl_passwd.c: hash a password read from the tty/stdin */
int ctl_rules(int argc, char **argv);    /* ctl_rules.c: version history diff rollback */
int ctl_archive(int argc, char **argv);  /* ctl_archive.c: purge the archive maildirs */
int ctl_abuse(int argc, char **argv);    /* ctl_abuse.c: list show ack release */
int ctl_reload(int argc, char **argv);   /* ctl_reload.c: SIGHUP relay-master, wait, say how it went */
/* After relayctl start: relay-master's TLS load at its start, on stderr
 * as warnings when it was not all well (ctl_reload.c). */
void ctl_reload_tell_start(void);

/* relay.conf's error when stop or status went on without a good one
 * (they need only run_dir: relayctl_main.c), else NULL. */
extern const char *ctl_conf_error;

/* pid of the running relay-master of this instance, or 0 (ctl_master.c). */
long ctl_master_pid(void);

/* ctl_term.c: print n bytes (or a string) of peer-supplied text on a
 * terminal: control bytes, C1 controls and non-UTF-8 bytes as "\xHH". */
void ctl_term_put(FILE *f, const char *text, size_t n);
void ctl_term_puts(FILE *f, const char *s);

#endif
