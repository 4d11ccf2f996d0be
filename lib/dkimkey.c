/* dkimkey.c: DKIM key files and their rules.cdb lines (dkimkey.h). */
#include "dkimkey.h"
#include "pemkey.h"
#include "privs.h"
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const alg_names[] = { "rsa", "ed25519" };

const char *dkimkey_alg_name(int alg)
{
	return alg == DKIMKEY_ED25519 ? alg_names[1] : alg_names[0];
}

int dkimkey_alg_parse(const char *s)
{
	for (int i = 0; i < 2; i++)
		if (!strcmp(s, alg_names[i]))
			return i;
	return -1;
}

int dkimkey_selector_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= DKIMKEY_SELECTOR_MAX && s[0] != '.' &&
	       s[n - 1] != '.' && !strstr(s, "..") &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n;
}

void dkimkey_default_path(char *buf, size_t n, const char *dir,
			  const char *domain, const char *selector)
{
	snprintf(buf, n, "%s/%s/%s.%s.key", dir, DKIMKEY_DIR, domain,
		 selector);
}

int dkimkey_owner(const char *user_queue, uid_t *uid)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		*uid = geteuid();
		return 0;
	}
	pw = user_queue && *user_queue ? getpwnam(user_queue) : NULL;
	if (!pw)
		return -1;
	*uid = pw->pw_uid;
	return 0;
}

static int key_kind(FILE *f, int alg, int *bits, char *err, size_t errsz)
{
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, pem_no_passphrase, NULL);
	int id, rc = -1;

	if (!k) {
		snprintf(err, errsz, "not an unencrypted PEM private key");
		return -1;
	}
	id = EVP_PKEY_get_base_id(k);
	*bits = EVP_PKEY_get_bits(k);
	if (alg == DKIMKEY_RSA && id != EVP_PKEY_RSA)
		snprintf(err, errsz, "not an RSA key (alg=rsa)");
	else if (alg == DKIMKEY_ED25519 && id != EVP_PKEY_ED25519)
		snprintf(err, errsz, "not an Ed25519 key (alg=ed25519)");
	else if (alg == DKIMKEY_RSA && (*bits < DKIMKEY_RSA_BITS_MIN ||
					*bits > DKIMKEY_RSA_BITS_MAX))
		snprintf(err, errsz, "RSA key of %d bits (%d to %d accepted)",
			 *bits, DKIMKEY_RSA_BITS_MIN, DKIMKEY_RSA_BITS_MAX);
	else
		rc = 0;
	EVP_PKEY_free(k);
	return rc;
}

int dkimkey_check_access(const struct stat *st, uid_t owner, char *err,
			 size_t errsz)
{
	if (st->st_uid != owner)
		snprintf(err, errsz, "owned by uid %ld, must be uid %ld (the "
			 "signer, relay-queue)", (long)st->st_uid, (long)owner);
	else if (st->st_mode & 077)
		snprintf(err, errsz, "mode %04o gives group or others access "
			 "(chmod 600)", (unsigned)(st->st_mode & 07777));
	else
		return 0;
	return -1;
}

int dkimkey_check(const char *path, int alg, uid_t owner, int *bits,
		  char *err, size_t errsz)
{
	struct stat st;
	FILE *f;
	/* makecdb runs as root, and dkim/ is relay-queue's */
	int fd = regfile_open(path, &st, err, errsz), rc = -1;

	if (fd < 0)
		return -1;
	if (dkimkey_check_access(&st, owner, err, errsz) == 0) {
		if ((f = fdopen(fd, "r"))) {
			rc = key_kind(f, alg, bits, err, errsz);
			fclose(f);
			return rc;
		}
		snprintf(err, errsz, "%s", strerror(errno));
	}
	close(fd);
	return rc;
}

int dkimkey_reachable(const char *path, const char *user,
		      const char *extra_group, char *err, size_t errsz)
{
	int e = privs_can_open(path, user, extra_group);

	if (e == 0)
		return 0;
	if (e < 0)
		snprintf(err, errsz, "cannot check it as user %s: %s", user,
			 strerror(errno));
	else
		snprintf(err, errsz, "user %s (the signer, relay-queue) cannot "
			 "open it: %s", user, strerror(e));
	return -1;
}

int dkimkey_sig_format(char *buf, size_t n, const struct dkimkey_sig *s)
{
	int len = snprintf(buf, n, "sig=%s %s %ld %s\n",
			   dkimkey_alg_name(s->alg), s->selector, s->expire,
			   s->path);
	return len < 0 || (size_t)len >= n ? -1 : len;
}

/* "<alg> <selector> <expire> <path>": the path is last, so it may hold
 * anything but a newline. */
int dkimkey_sig_parse(const char *v, size_t len, struct dkimkey_sig *s)
{
	char alg[16], line[sizeof s->path + 128], *end;
	int n = 0;

	if (len >= sizeof line)
		return -1;
	memcpy(line, v, len);
	line[len] = '\0';
	if (sscanf(line, "%15s %63s %ld %n", alg, s->selector, &s->expire,
		   &n) != 3 || n == 0 || !line[n] || s->expire < 0 ||
	    (s->alg = dkimkey_alg_parse(alg)) < 0)
		return -1;
	end = line + n;
	if (strlen(end) >= sizeof s->path)
		return -1;
	strcpy(s->path, end);
	return 0;
}
