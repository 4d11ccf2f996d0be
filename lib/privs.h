/* privs.h: the one audited place where a relaybox program gives up root. */
#ifndef PRIVS_H
#define PRIVS_H

/* When running as root: become user (its primary group, plus the
 * supplementary group extra_group when not NULL), and verify with
 * getresuid/getresgid that root cannot be regained; exits on any failure.
 * When not root: does nothing and returns 0 (a developer's run). */
int privs_drop(const char *user, const char *extra_group);

/* Close every descriptor from lowfd up (close_range, or one by one on a
 * kernel without it): what a caller left open without close-on-exec must
 * not reach a daemon of another uid.  Safe between fork and exec. */
void privs_close_from(int lowfd);

/* 1 when the real or effective uid is 0. */
int privs_is_root(void);
/* Raise the soft limit on open descriptors to the hard one (a daemon
 * holding thousands of connections); the soft limit now, -1 when
 * unlimited or unknown. */
long privs_nofile_raise(void);

#endif
