/* pwhash.c: crypt(3) hashing and verification, and reading a password
 * from the operator without echo. */
#include "pwhash.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

const char pwhash_unknown_user[] =
	"$y$j9T$GAel5kcwLmuSmyUv5oCkU0$W3UgV3brT.OglvJoxDl0y9UhCkcwisblgIp.qDu2XM6";

int pwhash_valid(const char *hash)
{
	size_t n = strlen(hash);

	if (n < 8 || n >= PWHASH_MAX)
		return 0;
	if (strncmp(hash, "$y$", 3) != 0 && strncmp(hash, "$6$", 3) != 0)
		return 0;
	/* crypt strings use [./0-9A-Za-z$] (and ',' '=' in $6$ rounds) */
	return strspn(hash, "./0123456789abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ$=,") == n;
}

static int read_line(FILE *f, char *buf, size_t n)
{
	size_t len;

	if (!fgets(buf, (int)n, f))
		return -1;
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (len == n - 1)
		return -1; /* too long: refuse rather than cut a password */
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return 0;
}

int pwhash_read(const char *prompt, char *buf, size_t n)
{
	struct termios old, quiet;
	int rc;

	if (!isatty(0))
		return read_line(stdin, buf, n);
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(0, &old) < 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(0, TCSAFLUSH, &quiet) < 0)
		return -1;
	rc = read_line(stdin, buf, n);
	tcsetattr(0, TCSAFLUSH, &old);
	fputs("\n", stderr);
	return rc;
}

int pwhash_make(const char *pw, char *out, size_t n)
{
	struct crypt_data cd;
	char *salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
	const char *h;
	int rc = -1;

	if (!salt)
		return -1;
	memset(&cd, 0, sizeof cd);
	h = crypt_r(pw, salt, &cd);
	if (h && h[0] == '$' && strlen(h) < n && pwhash_valid(h)) {
		strcpy(out, h);
		rc = 0;
	}
	free(salt);
	explicit_bzero(&cd, sizeof cd);
	return rc;
}

int pwhash_verify(const char *pw, const char *hash)
{
	struct crypt_data *cd;
	const char *h;
	size_t n = strlen(hash);
	unsigned char diff = 0;
	int ok;

	if (!pwhash_valid(hash))
		return 0;
	cd = calloc(1, sizeof *cd);
	if (!cd)
		return 0;
	h = crypt_r(pw, hash, cd);
	ok = h && h[0] == '$' && strlen(h) == n;
	/* compare every byte whatever the first difference */
	for (size_t i = 0; ok && i < n; i++)
		diff |= (unsigned char)(h[i] ^ hash[i]);
	ok = ok && diff == 0;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

int pwhash_ask(char *hash, size_t n, const char **err)
{
	char pw[PWHASH_PASS_MAX], again[PWHASH_PASS_MAX];
	int tty = isatty(0), rc = -1;

	*err = NULL;
	if (pwhash_read("Password: ", pw, sizeof pw) < 0 ||
	    (tty && pwhash_read("Again: ", again, sizeof again) < 0))
		*err = "no password read";
	else if (tty && strcmp(pw, again) != 0)
		*err = "the passwords differ";
	else if (!*pw)
		*err = "empty password refused";
	else if (pwhash_make(pw, hash, n) < 0)
		*err = "hashing failed";
	else
		rc = 0;
	explicit_bzero(pw, sizeof pw);
	explicit_bzero(again, sizeof again);
	return rc;
}
