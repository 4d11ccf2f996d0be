/* fuzz_addr.c: addr_parse_path on arbitrary text.  The first byte picks
 * allow_null and utf8.  An accepted mailbox must fit the limits, be
 * 7-bit without utf8, have a valid domain, and parse again to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static void fuzz_check(const char *out, int utf8, int allow_null)
{
	char *again = malloc(strlen(out) + 3), *out2 = malloc(ADDR_MAX + 1);
	const char *rest;
	size_t n = strlen(out);

	if (n > ADDR_MAX)
		abort();
	if (n == 0) { /* the null path */
		if (!allow_null)
			abort();
		free(again);
		free(out2);
		return;
	}
	if (addr_mailbox_check(out, utf8) != ADDR_OK)
		abort();
	for (size_t i = 0; !utf8 && i < n; i++)
		if ((unsigned char)out[i] >= 0x80)
			abort();
	if (!addr_domain_valid(addr_domain(out), 1))
		abort();
	strcpy(again, "<");
	strcat(again, out);
	strcat(again, ">");
	if (addr_parse_path(again, 0, utf8, out2, ADDR_MAX + 1, &rest) !=
		    ADDR_OK ||
	    strcmp(out, out2) != 0 || *rest)
		abort();
	free(again);
	free(out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *out;
	const char *rest = NULL;
	int allow_null, utf8;

	if (size == 0)
		return 0;
	allow_null = data[0] & 1;
	utf8 = (data[0] >> 1) & 1;
	in = malloc(size);
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	out = malloc(ADDR_MAX + 1);
	if (addr_parse_path(in, allow_null, utf8, out, ADDR_MAX + 1, &rest) ==
	    ADDR_OK) {
		if (rest < in || rest > in + strlen(in))
			abort();
		fuzz_check(out, utf8, allow_null);
	}
	addr_domain_valid(in, data[0] & 4);
	free(out);
	free(in);
	return 0;
}
