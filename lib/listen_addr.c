/* listen_addr.c: listen addresses (see listen_addr.h). */
#include "listen_addr.h"
#include "settings.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, in_port_t *port)
{
	char *end;
	long n;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
		return -1;
	n = strtol(s, &end, 10);
	if (n < 1 || n > 65535)
		return -1;
	*port = htons((in_port_t)n);
	return 0;
}

int listen_addr_parse(const char *spec, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	size_t hl;

	memset(ss, 0, sizeof *ss);
	if (!colon || (hl = (size_t)(colon - spec)) == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (hl < 3 || host[hl - 1] != ']')
			return -1;
		host[hl - 1] = '\0';
		s6->sin6_family = AF_INET6;
		*len = sizeof *s6;
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -1;
		return parse_port(colon + 1, &s6->sin6_port);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	*len = sizeof *s4;
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -1;
	return parse_port(colon + 1, &s4->sin_port);
}

void listen_addr_name(const struct sockaddr_storage *ss, char *ip,
		      size_t ipsz, char *port, size_t portsz)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)ipsz);
		snprintf(port, portsz, "%u", ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)ipsz);
		snprintf(port, portsz, "%u", ntohs(s4->sin_port));
	}
}

int listen_addr_is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(
		   &((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static int same_end(const struct sockaddr_storage *listener,
		    const struct sockaddr_storage *local)
{
	int any = listen_addr_is_any(listener);

	if (listener->ss_family != local->ss_family)
		return 0;
	if (local->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)listener,
					 *b = (const void *)local;
		return a->sin_port == b->sin_port &&
		       (any || a->sin_addr.s_addr == b->sin_addr.s_addr);
	}
	const struct sockaddr_in6 *a = (const void *)listener,
				  *b = (const void *)local;
	return a->sin6_port == b->sin6_port &&
	       (any || IN6_ARE_ADDR_EQUAL(&a->sin6_addr, &b->sin6_addr));
}

#define LISTEN_ADDR_MAX 64

static struct sockaddr_storage ours[LISTEN_ADDR_MAX];
static size_t nours;
static int ours_read;

static void add_list(const char *list)
{
	char *copy = strdup(list ? list : ""), *save = NULL, *tok;
	socklen_t len;

	for (tok = copy ? strtok_r(copy, " ,\t", &save) : NULL;
	     tok && nours < LISTEN_ADDR_MAX; tok = strtok_r(NULL, " ,\t", &save))
		if (listen_addr_parse(tok, &ours[nours], &len) == 0)
			nours++;
	free(copy);
}

static void ours_load(void)
{
	if (!ours_read) {
		add_list(cf.listen);
		add_list(cf.listen_tls);
		ours_read = 1;
	}
}

int listen_addr_ours(const struct sockaddr_storage *local)
{
	ours_load();
	for (size_t i = 0; i < nours; i++)
		if (same_end(&ours[i], local))
			return 1;
	return 0;
}

/* peer as connect() takes it: ::ffff:a.b.c.d is a.b.c.d, and the
 * unspecified address (0.0.0.0, ::) is the loopback address. */
static void self_normalise(const struct sockaddr_storage *peer,
			   struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *p6 = (const void *)peer;
	struct sockaddr_in *o4 = (void *)out;
	struct sockaddr_in6 *o6 = (void *)out;

	*out = *peer;
	if (peer->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&p6->sin6_addr)) {
		memset(out, 0, sizeof *out);
		o4->sin_family = AF_INET;
		o4->sin_port = p6->sin6_port;
		memcpy(&o4->sin_addr, &p6->sin6_addr.s6_addr[12], 4);
	}
	if (out->ss_family == AF_INET && o4->sin_addr.s_addr == htonl(INADDR_ANY))
		o4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (out->ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&o6->sin6_addr))
		o6->sin6_addr = in6addr_loopback;
}

/* 1 when a and b (of a's family) hold the same address, ports aside. */
static int self_same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	return IN6_ARE_ADDR_EQUAL(
	    &((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr);
}

/* 1 when the address of a is this host's: loopback, or an address of
 * one of its interfaces (looked up each time: they may change). */
static int self_local(const struct sockaddr_storage *a)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (a->ss_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127)
		return 1;
	if (a->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr))
		return 1;
	if (getifaddrs(&ifs) < 0)
		return 0;
	for (i = ifs; i && !found; i = i->ifa_next)
		found = i->ifa_addr && i->ifa_addr->sa_family == a->ss_family &&
			self_same_addr(a, i->ifa_addr);
	freeifaddrs(ifs);
	return found;
}

int listen_addr_is_self(const struct sockaddr_storage *peer)
{
	struct sockaddr_storage p;
	int local = -1; /* not looked up yet: getifaddrs only when needed */

	ours_load();
	self_normalise(peer, &p);
	for (size_t i = 0; i < nours; i++) {
		if (!same_end(&ours[i], &p))
			continue; /* another family, port or address */
		if (!listen_addr_is_any(&ours[i]))
			return 1;
		if (local < 0)
			local = self_local(&p);
		if (local)
			return 1;
	}
	return 0;
}
