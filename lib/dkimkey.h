/* dkimkey.h: DKIM signing keys, the one definition of their contract:
 * where the key files live, what makes a key file acceptable, and the
 * rules.cdb keys and value lines makecdb writes for relay-queue (the
 * signer).  conf/RULES.md documents the format for operators. */
#ifndef DKIMKEY_H
#define DKIMKEY_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define DKIMKEY_DIR "dkim"          /* under the instance directory */
#define DKIMKEY_RSA_BITS_MIN 1024
#define DKIMKEY_RSA_BITS_MAX 4096
#define DKIMKEY_SELECTOR_MAX 63
#define DKIMKEY_SIGS_MAX 4          /* signatures a message gets at most */
#define DKIMKEY_PATH_MAX 1024       /* so that a value stays under RK_VALMAX */

/* rules.cdb: "dkim:<domain>" for mail whose From: domain is exactly
 * <domain>, "dkim:.<domain>" for its subdomains (subdomains=yes).
 * Value lines: "customer=<name>", "domain=<d= domain>", then one
 * "sig=<alg> <selector> <expire> <key path>" a signature, RSA first. */
#define DKIMKEY_CDB_PREFIX "dkim:"

enum dkimkey_alg { DKIMKEY_RSA, DKIMKEY_ED25519 };

struct dkimkey_sig {
	int alg;                              /* enum dkimkey_alg */
	char selector[DKIMKEY_SELECTOR_MAX + 1];
	long expire;                          /* seconds, 0 = no x= */
	char path[DKIMKEY_PATH_MAX];
};

/* "rsa" / "ed25519"; parse returns -1 for anything else. */
const char *dkimkey_alg_name(int alg);
int dkimkey_alg_parse(const char *s);

/* 1 when s is a selector: lowercase LDH labels separated by dots, at
 * most DKIMKEY_SELECTOR_MAX bytes (makecdb and relayctl dkim keygen). */
int dkimkey_selector_valid(const char *s);

/* DIR/dkim/DOMAIN.SELECTOR.key */
void dkimkey_default_path(char *buf, size_t n, const char *dir,
			  const char *domain, const char *selector);

/* The uid that must own key files: user_queue's when running as root
 * (relay-queue signs), else our own.  0, or -1 (no such user). */
int dkimkey_owner(const char *user_queue, uid_t *uid);

/* Check a key file: a regular file owned by owner with no group or other
 * permission bits, holding an unencrypted PEM private key of alg (RSA of
 * DKIMKEY_RSA_BITS_MIN..MAX bits).  0 (*bits set), or -1 with err. */
int dkimkey_check(const char *path, int alg, uid_t owner, int *bits,
		  char *err, size_t errsz);

/* The owner and mode part of dkimkey_check, on a file's stat: owned by
 * owner, no group or other bits.  0, or -1 with why and the fix in err.
 * makecdb refuses such a key; relay-queue, which reads the file again
 * when it changed, warns (queue/queue_dkim_keys.c) and relayctl dkim
 * show prints it. */
int dkimkey_check_access(const struct stat *st, uid_t owner, char *err,
			 size_t errsz);

/* Root checks keys for another uid: can user (with extra_group, as
 * relay-queue drops privileges) open path?  A child drops to it and
 * tries (a directory on the way it may not pass, say).  0, or -1 with
 * err.  Not root: 0 (dkimkey_check opened it as the signer already). */
int dkimkey_reachable(const char *path, const char *user,
		      const char *extra_group, char *err, size_t errsz);

/* The line "sig=..." of a rules.cdb value: format / parse (the value
 * without "sig=", len bytes); parse returns 0 or -1. */
int dkimkey_sig_format(char *buf, size_t n, const struct dkimkey_sig *s);
int dkimkey_sig_parse(const char *v, size_t len, struct dkimkey_sig *s);

#endif
