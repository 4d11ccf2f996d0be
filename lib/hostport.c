/* hostport.c: "[host]:port" and its shorter forms (hostport.h). */
#include "hostport.h"
#include "addr.h"

#include <stdlib.h>
#include <string.h>

/* A DNS name, or what can only be an IPv4 or IPv6 address: anything
 * else (a space, a slash) would travel in frames and logs as a name. */
static int hostport_host_ok(const char *h, size_t len)
{
	return addr_domain_valid(h, 0) ||
	       strspn(h, "0123456789abcdefABCDEF:.") == len;
}

int hostport_parse(const char *s, char *host, size_t n, long *port)
{
	const char *end, *colon;
	char buf[256];
	size_t len;
	long p = 0;

	if (*s == '[') {
		end = strchr(s, ']');
		if (!end)
			return -1;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -1;
		s++;
	} else {
		colon = strrchr(s, ':');
		end = colon ? colon : s + strlen(s);
	}
	len = (size_t)(end - s);
	if (len == 0 || len >= n || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (colon) {
		char *e;
		p = strtol(colon + 1, &e, 10);
		if (!colon[1] || *e || p < 1 || p > 65535)
			return -1;
	}
	if (!hostport_host_ok(buf, len))
		return -1;
	memcpy(host, buf, len + 1);
	*port = p;
	return 0;
}
