/* privs.h: the one audited place where a relaybox program gives up root. */
#ifndef PRIVS_H
#define PRIVS_H

/* When running as root: become user (its primary group, plus the
 * supplementary group extra_group when not NULL), verify with
 * getresuid/getresgid that root cannot be regained, set no_new_privs (no
 * exec of ours or our children gains privileges through a setuid program
 * or file capabilities) and make the process not dumpable
 * (privs_undumpable) whatever fs.suid_dumpable says, and set again the
 * parent-death signal the uid change cleared (raised at once when the
 * parent is already gone); exits on any failure.  When not root: does
 * nothing and returns 0 (a developer's run). */
int privs_drop(const char *user, const char *extra_group);

/* Not dumpable: no other process of our uid can read or write our
 * memory (/proc/PID/mem), trace us or take our descriptors (pidfd_getfd),
 * and /proc/PID/ of ours is root's.  A program exec'd after the drop
 * (relay-smtpd) calls it first thing: exec made it dumpable again.
 * Exits on failure. */
void privs_undumpable(void);

/* umask(022) for root's programs (relay-master, makecdb, relayctl): what
 * they write is read by the daemons' uids, so its mode is the one each
 * file is made with, never narrowed by the caller's umask (a root shell
 * with umask 077 would leave rules.cdb or suspended unreadable to
 * relay-policy, and the change silently not in force).  Files that must
 * stay private are made 0600/0640 where they are made. */
void privs_file_modes(void);

/* Root asks whether user (with extra_group, as privs_drop takes them)
 * could open path for reading: a child drops to it and tries, so a mode,
 * an owner or a folder on the way it may not pass all count.  0 when it
 * could (or we are not root: the caller opens it itself); the open's
 * errno when it could not; -1 (errno set) when the check failed. */
int privs_can_open(const char *path, const char *user,
		   const char *extra_group);

/* 1 when the real or effective uid is 0. */
int privs_is_root(void);
/* Raise the soft limit on open descriptors to the hard one (a daemon
 * holding thousands of connections); the soft limit now, -1 when
 * unlimited or unknown. */
long privs_nofile_raise(void);

#endif
