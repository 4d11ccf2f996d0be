// links: queue/queue_dkim_keys.c queue/queue_rules.c
/* test_queue_dkim_pkey.c: a key file's parsed key is kept.  The signer
 * holds its own copy of the key text; asking with that copy twice gives
 * the same parsed key without parsing again, and a replaced file (a
 * rotation under the same name) gives a new one.  An encrypted key is
 * no key, and never makes OpenSSL ask for a passphrase on a terminal
 * (a relay started from one would wait there). */
#include "t.h"
#include "t_pty.h"
#include "../../queue/queue.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_key(const char *path)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *f = fopen(path, "w");

	if (!k || !f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
		exit(1);
	fclose(f);
	EVP_PKEY_free(k);
}

static int encrypted_refused(void *pem)
{
	int owned;

	return queue_dkim_pkey(pem, &owned) ? 1 : 0;
}

/* An encrypted PEM key asked for in a child whose controlling
 * terminal is a pty: refused at once, not a prompt left waiting. */
static void test_encrypted(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *pem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&pem, &len);

	if (!k || !f || !PEM_write_PrivateKey(f, k, EVP_aes_256_cbc(),
					      NULL, 0, NULL, "secret"))
		exit(1);
	fclose(f);
	EVP_PKEY_free(k);
	T_CHECK("an encrypted key: no key, no passphrase prompt",
		t_on_pty(encrypted_refused, pem, 5) == 0);
	free(pem);
}

int main(void)
{
	char dir[] = "/tmp/test_queue_dkim_pkey.XXXXXX", path[128], err[256];
	const char *text;
	char *copy, *copy2;
	EVP_PKEY *a, *b, *c;
	int owned_a, owned_b, owned_c;
	unsigned char pub_a[32], pub_c[32];
	size_t len_a = sizeof pub_a, len_c = sizeof pub_c;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/k.key", dir);
	write_key(path);
	text = queue_dkim_key(path, err, sizeof err);
	T_CHECK("key file read", text != NULL);
	if (!text)
		return t_done();
	copy = strdup(text);
	a = queue_dkim_pkey(copy, &owned_a);
	b = queue_dkim_pkey(copy, &owned_b);
	T_CHECK("a copy of the file's text: parsed once, kept",
		a && a == b && !owned_a && !owned_b);
	/* a goes with the text it came from: keep its public half */
	if (!a || EVP_PKEY_get_raw_public_key(a, pub_a, &len_a) != 1)
		return t_done();
	sleep(1); /* another mtime, whatever the file system's granularity */
	write_key(path);
	text = queue_dkim_key(path, err, sizeof err);
	copy2 = text ? strdup(text) : NULL;
	c = copy2 ? queue_dkim_pkey(copy2, &owned_c) : NULL;
	T_CHECK("a replaced file: its new key", c && !owned_c &&
		EVP_PKEY_get_raw_public_key(c, pub_c, &len_c) == 1 &&
		(len_a != len_c || memcmp(pub_a, pub_c, len_a)));
	b = queue_dkim_pkey("not a key", &owned_b);
	T_CHECK("text that is no file's: not kept, no key", owned_b && !b);
	free(copy);
	free(copy2);
	test_encrypted();
	unlink(path);
	rmdir(dir);
	return t_done();
}
