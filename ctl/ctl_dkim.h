/* ctl_dkim.h: relayctl dkim keygen|show|check (ctl_dkim.c), its key
 * files and records (ctl_dkim_key.c) and the list of keys an instance
 * has (ctl_dkim_list.c).  Where keys live, who owns them and their limits
 * are lib/dkimkey.h's (conf/RULES.md, statement dkim). */
#ifndef CTL_DKIM_H
#define CTL_DKIM_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#define CTL_DKIM_BITS_DEFAULT 2048  /* DKIMKEY_RSA_BITS_MIN..MAX */
#define CTL_DKIM_PUB_MAX 1024      /* DER of a 4096-bit RSA key: 550 */
#define CTL_DKIM_P_MAX 1400        /* its base64 */
#define CTL_DKIM_REC_MAX 1500

/* ---- keys (ctl_dkim_key.c) ---- */
EVP_PKEY *ctl_dkim_key_new(int ed25519, int bits);   /* NULL on error */
int ctl_dkim_key_write(int fd, EVP_PKEY *pkey);      /* PEM; 0 or -1 */
EVP_PKEY *ctl_dkim_key_read(int fd);                 /* NULL: not a key */
const char *ctl_dkim_key_alg(EVP_PKEY *pkey);        /* "rsa", "ed25519", NULL */
/* The base64 p= value of the public half; 0 or -1. */
int ctl_dkim_key_p(EVP_PKEY *pkey, char *p, size_t n);
/* "v=DKIM1; k=rsa; p=..."; 0 or -1. */
int ctl_dkim_key_record(EVP_PKEY *pkey, char *rec, size_t n);
/* Open path (no symlink), fstat it into *st and read the key; NULL with
 * the reason in why. */
EVP_PKEY *ctl_dkim_key_load(const char *path, struct stat *st, char *why,
			    size_t n);
/* "rsa-2048", "ed25519" */
void ctl_dkim_key_describe(EVP_PKEY *pkey, char *buf, size_t n);
/* "SEL._domainkey.DOMAIN. IN TXT "..." "..."" in 255-byte strings. */
void ctl_dkim_key_zone_line(const char *domain, const char *selector,
			    const char *rec, FILE *out);

/* ---- the instance's keys (ctl_dkim_list.c) ---- */
struct ctl_dkim_entry {
	char domain[256];
	char selector[64];
	char path[PATH_MAX];
	char alg[16];              /* from the rules; "" when only a file */
	int in_rules;              /* named by a dkim line of relay.rules */
	int line;                  /* that line's number, 0 for a file only */
	int enabled;               /* enabled=no in the rules: 0 */
};

/* The keys of the instance (domain NULL) or of one domain, sorted: each
 * dkim line of relay.rules and each DIR/dkim/DOMAIN.SELECTOR.key file no
 * line names.  *n is their number; -1 on error (message printed). */
int ctl_dkim_list(const char *domain, struct ctl_dkim_entry **out, size_t *n);

/* relayctl dkim check DOMAIN (ctl_dkim_check.c) */
int ctl_dkim_check(int argc, char **argv);
/* A published record against a key of alg ("rsa", "ed25519") whose
 * base64 public key is p: NULL when it matches, else why not. */
const char *ctl_dkim_check_record(const char *rec, const char *alg,
				  const char *p);

/* 1 when s is a valid domain (addr_domain_valid) or, with selector
 * set, a valid selector (dkimkey_selector_valid); both lowercase. */
int ctl_dkim_name_ok(const char *s, int selector);

#endif
