/* fuzz_kv.c: kv_parse on arbitrary payloads.  When a payload parses, its
 * pairs rebuilt with kv_add must parse again to the same pairs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

static struct kv_msg fuzz_m1, fuzz_m2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	struct kv k;

	memcpy(buf, data, size);
	buf[size] = '\0';
	if (kv_parse(&fuzz_m1, buf, size) < 0) {
		free(buf);
		return 0;
	}
	kv_init(&k);
	for (size_t i = 0; i < fuzz_m1.n; i++) {
		const char *key = fuzz_m1.pair[i].key;
		if (!*key || strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
				 strlen(key) ||
		    strchr(fuzz_m1.pair[i].value, '\n'))
			abort();
		kv_add(&k, key, fuzz_m1.pair[i].value);
	}
	if (k.failed || kv_parse(&fuzz_m2, k.buf ? k.buf : (char *)"", k.len) < 0 ||
	    fuzz_m2.n != fuzz_m1.n)
		abort();
	for (size_t i = 0; i < fuzz_m1.n; i++)
		if (strcmp(fuzz_m1.pair[i].key, fuzz_m2.pair[i].key) ||
		    strcmp(fuzz_m1.pair[i].value, fuzz_m2.pair[i].value))
			abort();
	kv_free(&k);
	free(buf);
	return 0;
}
