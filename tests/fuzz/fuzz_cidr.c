/* fuzz_cidr.c: ipaddr_parse and cidr_parse on arbitrary text.  What
 * parses must format and parse back to the same value, and a range must
 * match its own network address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), buf[80];
	struct ipaddr ip, ip2;
	struct cidr c, c2;

	memcpy(in, data, size);
	in[size] = '\0';
	if (ipaddr_parse(in, &ip) == 0) {
		ipaddr_format(&ip, buf, sizeof buf);
		if (ipaddr_parse(buf, &ip2) < 0 || memcmp(&ip, &ip2, sizeof ip))
			abort();
	}
	if (cidr_parse(in, &c) == 0) {
		if (c.bits < 0 || c.bits > 128 || !cidr_match(&c, &c.net))
			abort();
		cidr_format(&c, buf, sizeof buf);
		if (cidr_parse(buf, &c2) < 0 || c2.bits != c.bits ||
		    memcmp(&c.net, &c2.net, sizeof c.net))
			abort();
		if (cidr_size_log2(&c) != 128 - c.bits)
			abort();
	}
	free(in);
	return 0;
}
