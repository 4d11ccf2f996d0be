/* listen_sock.c: parsing listen addresses and binding them. */
#include "listen_sock.h"
#include "listen_addr.h"
#include "exitcodes.h"
#include "log.h"
#include "settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The pool workers of a relay-listen that just died hold its listening
 * sockets until their parent-death signal has closed them (a moment):
 * a restarted relay-listen waits up to two seconds for the port. */
static int bind_retry(int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	for (int i = 0; i < 20; i++) {
		if (bind(fd, (const struct sockaddr *)ss, len) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return -1;
		usleep(100 * 1000);
	}
	return -1;
}

/* Bind one listener; exits on failure (a missing port is a broken
 * configuration, not something to run without). */
static int bind_one(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (listen_addr_parse(spec, &ss, &len) < 0)
		log_fatal(EXIT_PERM, "bad listen address %s (want ip:port or [ipv6]:port)",
			  spec);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		log_fatalx(EXIT_TEMP, "socket for %s", spec);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
		log_fatalx(EXIT_TEMP, "IPV6_V6ONLY for %s", spec);
	if (bind_retry(fd, &ss, len) < 0)
		log_fatalx(EXIT_TEMP, "bind %s", spec);
	if (listen(fd, 256) < 0)
		log_fatalx(EXIT_TEMP, "listen %s", spec);
	return fd;
}

void listen_sock_reach(const struct listen_sock *ls, char *key, size_t n)
{
	const char *k = ls->localip;

	if (!ls->fixed)
		k = "*";
	else if (strcmp(k, "127.0.0.1") == 0 || strcmp(k, "::1") == 0)
		k = "loopback";
	snprintf(key, n, "%s", k);
}

/* Note the local address when the listener has one of its own. */
static void local_fixed(struct listen_sock *ls)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	ls->fixed = 0;
	if (getsockname(ls->fd, (struct sockaddr *)&ss, &len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    listen_addr_is_any(&ss))
		return;
	listen_addr_name(&ss, ls->localip, sizeof ls->localip, ls->localport,
			 sizeof ls->localport);
	ls->fixed = 1;
}

/* Bind each address of a space- or comma-separated list. */
static size_t open_list(const char *list, int tls, struct listen_sock *out,
			size_t n, size_t max)
{
	char *copy = strdup(list), *save = NULL, *tok;

	if (!copy)
		log_fatal(EXIT_TEMP, "out of memory");
	for (tok = strtok_r(copy, " ,\t", &save); tok;
	     tok = strtok_r(NULL, " ,\t", &save)) {
		if (n == max)
			log_fatal(EXIT_PERM, "more than %zu listen addresses", max);
		out[n].fd = bind_one(tok);
		out[n].tls = tls;
		local_fixed(&out[n]);
		snprintf(out[n].name, sizeof out[n].name, "%s", tok);
		log_info("listening on %s%s", tok, tls ? " (implicit TLS)" : "");
		n++;
	}
	free(copy);
	return n;
}

size_t listen_sock_open_all(struct listen_sock *out, size_t max)
{
	size_t n = open_list(cf.listen, 0, out, 0, max);
	n = open_list(cf.listen_tls, 1, out, n, max);
	if (n == 0)
		log_fatal(EXIT_PERM, "nothing to listen on (listen, listen_tls)");
	return n;
}

void listen_sock_peer(int fd, const struct sockaddr_storage *ss,
		      const struct listen_sock *ls, struct listen_peer *p)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;

	listen_addr_name(ss, p->ip, sizeof p->ip, p->port, sizeof p->port);
	if (ls->fixed) {
		memcpy(p->localip, ls->localip, sizeof ls->localip);
		memcpy(p->localport, ls->localport, sizeof ls->localport);
	} else if (getsockname(fd, (struct sockaddr *)&local, &len) == 0) {
		listen_addr_name(&local, p->localip, sizeof p->localip,
				 p->localport, sizeof p->localport);
	} else {
		strcpy(p->localip, "unknown");
		strcpy(p->localport, "0");
	}
	p->tls = ls->tls;
}

void listen_sock_refuse(int fd, const char *esc, const char *text)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "421 %s %s %s\r\n", esc, cf.hostname,
			 text);
	if (n > 0 && send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* best effort: the client may already be gone */
	}
}
