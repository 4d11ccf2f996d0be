/* queue_dkim_keys.c: which keys sign a From: domain (rules.cdb, read
 * again when makecdb replaced it: a rotation needs no restart), and the
 * key files themselves, kept in memory and read again when they change
 * (a stat per signature instead of an open and a read).  A key that this
 * file signs with itself (Ed25519) is also kept parsed: OpenSSL 3 takes
 * longer to parse a PEM key than to sign with it.  Each read of a file
 * holds it to makecdb's owner and mode check (key_access_warn). */
#include "log.h"
#include "pemkey.h"
#include "queue.h"
#include "rcdb.h"
#include "rulekeys.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#define KEYS_MAX 32
#define KEY_FILE_MAX 16384  /* a 4096-bit RSA key in PEM is about 3.3 KiB */

struct key_entry {
	char path[DKIMKEY_PATH_MAX];
	dev_t dev;
	ino_t ino;
	struct timespec mtime, ctime; /* ctime: a rewrite that kept mtime */
	off_t size;
	char *text;
	EVP_PKEY *pkey;   /* text parsed, when asked for (queue_dkim_pkey) */
};

static struct key_entry keys[KEYS_MAX];
static size_t nkeys, next_evict;

static void value_sigs(const char *val, struct dkimkey_sig *sigs, int *n)
{
	const char *pos = val, *v;
	size_t len;

	while (*n < DKIMKEY_SIGS_MAX && (v = rk_next(&pos, "sig", &len)))
		if (dkimkey_sig_parse(v, len, &sigs[*n]) == 0)
			(*n)++;
}

int queue_dkim_lookup(const char *fromdom, char *domain, size_t dn,
		      char *customer, size_t cn, struct dkimkey_sig *sigs)
{
	struct rcdb *db = queue_rules();
	char key[RK_KEYMAX], val[RK_VALMAX];
	const char *d = fromdom;
	int n = 0;

	snprintf(key, sizeof key, "%s%s", DKIMKEY_CDB_PREFIX, d);
	while (rcdb_gets(db, key, val, sizeof val) < 0) {
		d = strchr(d + 1, '.'); /* the parent: ".example.com" */
		if (!d || !strchr(d + 1, '.'))
			return 0; /* no key for a bare top-level domain */
		snprintf(key, sizeof key, "%s%s", DKIMKEY_CDB_PREFIX, d);
	}
	if (rk_get(val, "domain", domain, dn) != 1 ||
	    rk_get(val, "customer", customer, cn) != 1)
		return 0;
	value_sigs(val, sigs, &n);
	return n;
}

static int ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Unchanged since read: ctime too, which no one can set back (cp -p,
 * touch -r or a restore keep mtime and, for a key, the size). */
static int key_same(const struct key_entry *k, const struct stat *st)
{
	return st->st_dev == k->dev && st->st_ino == k->ino &&
	       st->st_size == k->size && ts_eq(st->st_mtim, k->mtime) &&
	       ts_eq(st->st_ctim, k->ctime);
}

static struct key_entry *key_slot(const char *path)
{
	struct key_entry *k;

	for (size_t i = 0; i < nkeys; i++)
		if (!strcmp(keys[i].path, path))
			return &keys[i];
	k = nkeys < KEYS_MAX ? &keys[nkeys++] : &keys[next_evict++ % KEYS_MAX];
	free(k->text);
	EVP_PKEY_free(k->pkey);
	memset(k, 0, sizeof *k);
	snprintf(k->path, sizeof k->path, "%s", path);
	return k;
}

static int key_read(struct key_entry *k, int fd, off_t size)
{
	char *t = malloc((size_t)size + 1);
	ssize_t r = t ? pread(fd, t, (size_t)size, 0) : -1;

	if (r != size) {
		free(t);
		if (r >= 0)
			errno = EIO;
		return -1;
	}
	t[size] = '\0';
	free(k->text);
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
	k->text = t;
	return 0;
}

/* A key that makecdb would now refuse (chmod 644 after makecdb, another
 * owner) still signs: unsigned mail from a domain under DMARC would be
 * lost, and a key others could read is exposed whether or not we go on
 * using it.  But the operator must hear of it: one warning a read of the
 * file (not a message), with makecdb's own words and fix. */
static void key_access_warn(const char *path, const struct stat *st)
{
	char why[256];
	uid_t owner;

	if (dkimkey_owner(cf.user_queue, &owner) < 0 ||
	    dkimkey_check_access(st, owner, why, sizeof why) == 0)
		return;
	log_warn("dkim: key %s: %s; makecdb refuses this key: signing with "
		 "it all the same, but count it as seen by others (a new one: "
		 "relayctl dkim keygen)", path, why);
}

const char *queue_dkim_key(const char *path, char *err, size_t errsz)
{
	struct key_entry *k = key_slot(path);
	struct stat st;
	int fd;

	if (stat(path, &st) == 0 && k->text && key_same(k, &st))
		return k->text;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > KEY_FILE_MAX || key_read(k, fd, st.st_size) < 0) {
		snprintf(err, errsz, "%s",
			 fd >= 0 && (!S_ISREG(st.st_mode) ||
				     st.st_size > KEY_FILE_MAX)
				 ? "not a key file" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	key_access_warn(path, &st);
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	k->size = st.st_size;
	k->mtime = st.st_mtim;
	k->ctime = st.st_ctim;
	return k->text;
}

static EVP_PKEY *key_parse(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	/* an encrypted key is no key (pem_no_passphrase) */
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL,
						  pem_no_passphrase, NULL)
			: NULL;

	BIO_free(b);
	return k;
}

EVP_PKEY *queue_dkim_pkey(const char *pem, int *owned)
{
	*owned = 0;
	/* by content: the signer holds a copy of the text, which stays
	 * valid when the file is read again in the middle of a message */
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].text && !strcmp(keys[i].text, pem)) {
			if (!keys[i].pkey)
				keys[i].pkey = key_parse(pem);
			return keys[i].pkey;
		}
	*owned = 1;
	return key_parse(pem);
}
