/* rulehist.h: the history of compiled rule sets.  Each makecdb that
 * changes rules.cdb or users.cdb keeps the new set as a numbered version
 * with the relay.rules it came from, the diff against the version before,
 * and an audit line (who, when, what); a rollback puts an older set back
 * atomically and is itself a new version.
 *
 *   DIR/rules-history/        the operator's (root), 0700: users.cdb copies;
 *                             refused when a link, another uid's, or
 *                             writable by group or others (lib/dirfile.h),
 *                             and worked in only by descriptor (*at()
 *                             calls, O_NOFOLLOW)
 *     lock                    flock: one makecdb or rollback at a time
 *     audit                   "N TIME WHO HASH +ADDED -REMOVED ACTION", tabs
 *     N/rules.cdb users.cdb   the compiled set (0600)
 *     N/relay.rules source    its rules file and that file's path
 *     N/diff                  diff -u of relay.rules against version N-1
 *
 * A set's hash (rulehist_hash) is SHA-256 over both CDB files; the same
 * rules give the same CDB bytes, so boxes fed the same relay.rules show
 * the same hash in `relayctl rules version`. */
#ifndef RULEHIST_H
#define RULEHIST_H

#include <limits.h>
#include <stdio.h>

#define RULEHIST_HASHLEN 64    /* hex digits of SHA-256 */
#define RULEHIST_LINEMAX 1024  /* an audit line */

struct rulehist {
	char dir[PATH_MAX];
	int dfd;   /* dir, opened and checked; -1: there is no history */
	int lock;
};

struct rulehist_entry {
	int n;
	char time[32], who[128], hash[RULEHIST_HASHLEN + 1];
	char changes[48], action[256];
};

/* Create (0700), check and lock the history of the instance in cf; -1
 * after a message on stderr. */
int rulehist_open(struct rulehist *h);
/* The same to read it only: not created, not locked; a history that is
 * not there yet reads as empty. */
int rulehist_view(struct rulehist *h);
void rulehist_close(struct rulehist *h);

/* hex[RULEHIST_HASHLEN + 1] of the set rules + users; -1 with errno. */
int rulehist_hash(const char *rules, const char *users, char *hex);

/* The latest version (1 with *e), or 0 when there is none yet. */
int rulehist_latest(const struct rulehist *h, struct rulehist_entry *e);
/* Version n (1 with *e), or 0 when the audit has no such line. */
int rulehist_find(const struct rulehist *h, int n, struct rulehist_entry *e);
/* Call fn on every audit entry, oldest first. */
void rulehist_each(const struct rulehist *h,
		   void (*fn)(const struct rulehist_entry *, void *), void *arg);

/* The relay.rules a set was compiled from: where it is, and the very
 * text that was compiled (kept as the version's relay.rules, never read
 * again from path, which may have changed since). */
struct rulehist_src {
	const char *path;
	const char *text;
	size_t len;
};

/* Keep the set in place (cf.rules_cdb, cf.users_cdb) as a new version
 * if it differs from the latest.  src: its relay.rules, or NULL.
 * Returns its version number (the latest when unchanged), -1 on error
 * after a message. */
int rulehist_record(struct rulehist *h, const struct rulehist_src *src,
		    const char *action);

/* The set in place kept as a version when it is not the latest one: at
 * the start of the history ("adopted"), or a set put there otherwise
 * (copied from another box, or a run that could not keep it: "found in
 * place").  The number of the version in place, 0 when there are no
 * files in place, -1 after a message. */
int rulehist_keep_in_place(struct rulehist *h);

/* Put version n back in place (CDBs and its relay.rules) and record that
 * as a new version; its number, or -1 after a message.  Every file is
 * written before the first rename; when a rename fails, the files
 * renamed are put back from the version that was in place. */
int rulehist_rollback(struct rulehist *h, int n);

/* Put users.cdb (and rules.cdb when rules_too) of version n back in
 * place: after a run replaced some of the pair and failed.  0, or -1
 * after a message. */
int rulehist_put_back(const struct rulehist *h, int n, int rules_too);

/* Whether version n's files are still kept (not pruned); 0 is "before
 * the first version", always there. */
int rulehist_kept(const struct rulehist *h, int n);

/* Write to out the diff -u of version a's relay.rules against b's (b's
 * own kept diff when a = b-1 was pruned); the exit status of diff (0
 * same, 1 different), -1 on error (errno ENOENT: a version pruned). */
int rulehist_diff(const struct rulehist *h, int a, int b, FILE *out);

/* The whole of file name of version v in *text (malloc'd,
 * NUL-terminated, *len bytes before the NUL); -1 with errno. */
int rulehist_read(const struct rulehist *h, int v, const char *name,
		  char **text, size_t *len);

/* A path in buf[PATH_MAX]; "" when it would not fit (opening it fails). */
char *rulehist_path(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Path of file name of version n: rulehist_file(h, 3, "diff", buf);
 * name NULL: the version's directory. */
char *rulehist_file(const struct rulehist *h, int n, const char *name,
		    char *buf);

#endif
