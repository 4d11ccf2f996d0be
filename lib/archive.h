/* archive.h: the per-customer archive copy (relay.rules `customer ...
 * archive=`), defined once for makecdb (the writer of the setting),
 * relay-queue (which makes the copy) and relayctl (which purges).
 *
 * Where the setting lives: the value of rules.cdb's `customer:<name>`
 * key, lines `archive=<address>|maildir` and `archive_keep=<days>`.
 *
 * The copy is a journal report (archive_journal_head/_tail): a
 * multipart/mixed message whose first part lists the original envelope
 * and whose second part is the original message, byte for byte as the
 * recipients get it, as message/rfc822.  To an address it is a queue file
 * of its own (sender <>, the one recipient, the info line
 * `archive=<original qid>`); to a maildir it is a file
 * `<archive_dir>/<customer>/new/<arrival>.<qid>.<host>`. */
#ifndef ARCHIVE_H
#define ARCHIVE_H

#include <stddef.h>

#include "addr.h"
#include "qfile.h"

#define ARCHIVE_RK_TARGET "archive"      /* customer:<name> value lines */
#define ARCHIVE_RK_KEEP "archive_keep"
#define ARCHIVE_MAILDIR "maildir"        /* the target that is a folder */
#define ARCHIVE_INFO "archive"           /* the copy's info key: orig qid */
#define ARCHIVE_KEEP_MAX 36500           /* days: a hundred years */

enum archive_kind { ARCHIVE_NONE, ARCHIVE_ADDR, ARCHIVE_FOLDER };

struct archive_conf {
	enum archive_kind kind;
	char addr[ADDR_MAX + 1];  /* ARCHIVE_ADDR */
	long keep_days;           /* ARCHIVE_FOLDER: 0 = keep for ever */
};

/* The kind of a target as written in relay.rules: "maildir", a mailbox
 * (addr_mailbox_check), or -1 when it is neither. */
int archive_target_kind(const char *target);

/* A customer:<name> value from rules.cdb into ac (kind NONE when it has
 * no archive line, or one that does not parse). */
void archive_conf_get(const char *val, struct archive_conf *ac);

/* The copy's text before the original message (headers, the envelope
 * part, the rfc822 part's header) for q (qid, arrival, info, from, rcpt
 * set), addressed to to (NULL for a maildir), with the MIME boundary
 * boundary; malloc'd (length in *len) or NULL.  The tail closes it. */
char *archive_journal_head(const struct qfile *q, const char *to,
			   const char *hostname, const char *boundary,
			   size_t *len);
/* "\r\n--<boundary>--\r\n" into buf; its length, or -1 when too small. */
int archive_journal_tail(const char *boundary, char *buf, size_t n);

/* A maildir file name "<arrival>.<qid>.<host>" (host's bytes outside
 * [A-Za-z0-9.-] as '_'); -1 when it does not fit. */
int archive_maildir_name(char *buf, size_t n, long long arrival,
			 const char *qid, const char *host);
/* The arrival time a maildir name starts with, or -1 when it does not. */
long long archive_maildir_time(const char *name);

/* The purge (archive_purge.c): in the customer folder open at dirfd
 * (archive_dir/<customer>), remove the files of new/ and cur/ whose
 * name says they arrived before `before` (unix seconds), and files of
 * tmp/ older than ARCHIVE_TMP_AGE (a crash's leftovers).  Counts go to
 * *removed and *kept; 0, or -1 with errno (a subfolder that is a link or
 * cannot be read). */
#define ARCHIVE_TMP_AGE (36 * 3600)
int archive_purge_folder(int dirfd, long long before, long long now,
			 long *removed, long *kept);

#endif
