/* policy_peer.c: the client's address from the kernel.  relay-smtpd
 * attaches the client's TCP socket to phase=connect (SCM_RIGHTS), and
 * relay-policy asks the kernel who is at the other end (getpeername),
 * so a taken-over relay-smtpd cannot claim any address it likes.  The
 * socket is believed only when its own end is one of our listeners
 * (listen, listen_tls) or a port below ip_unprivileged_port_start (what
 * a super-server such as tcpserver or systemd binds for SMTP): relay-smtpd
 * cannot bind those, so it cannot make such a socket itself by
 * connecting out to the address it wants to claim. */
#include "policy_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen_addr.h"
#include "log.h"

static long unpriv_start = 1024;

void policy_peer_init(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	long v;

	if (f && fscanf(f, "%ld", &v) == 1 && v >= 0 && v <= 65536)
		unpriv_start = v;
	if (f)
		fclose(f);
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* An IPv4 client of a dual-stack socket is named as IPv4. */
static void peer_name(const struct sockaddr_storage *ss, char *ip, size_t n)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	char port[8];

	if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, (socklen_t)n);
		return;
	}
	listen_addr_name(ss, ip, n, port, sizeof port);
}

int policy_peer_addr(int fd, char *ip, size_t n)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof local, plen = sizeof peer, olen;
	int proto = 0;

	olen = sizeof proto;
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &olen) < 0 ||
	    proto != IPPROTO_TCP ||
	    getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    (local.ss_family != AF_INET && local.ss_family != AF_INET6)) {
		log_warn("client socket: not a TCP socket");
		return -1;
	}
	if (!listen_addr_ours(&local) && port_of(&local) >= unpriv_start) {
		char lip[64], lport[8];
		listen_addr_name(&local, lip, sizeof lip, lport, sizeof lport);
		log_warn("client socket: local end %s port %s is none of our "
			 "listeners", lip, lport);
		return -1;
	}
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0 ||
	    peer.ss_family != local.ss_family) {
		log_warn("client socket: no peer");
		return -1;
	}
	peer_name(&peer, ip, n);
	return 0;
}

/* The peer must attach the socket: relay-smtpd's uid, when that is not
 * also root's or ours (an unprivileged run: one uid for every part). */
static int must_attach(const struct policy_srv *srv,
		       const struct policy_conn *c)
{
	return srv->smtpd_uid_known && c->uid == srv->smtpd_uid &&
	       c->uid != 0 && c->uid != getuid();
}

const char *policy_peer_session_ip(struct policy_srv *srv,
				   struct policy_conn *c, const char *claimed,
				   char *buf, size_t n)
{
	char shown[64];
	int rc = -1;

	if (c->client_fd >= 0) {
		rc = policy_peer_addr(c->client_fd, buf, n);
		close(c->client_fd);
		c->client_fd = -1;
	} else if (!must_attach(srv, c)) {
		return claimed; /* root, relayctl, tests: as before */
	} else {
		log_warn("phase=connect without the client's socket");
	}
	if (rc < 0)
		buf[0] = '\0'; /* no address: no rule for one can match */
	if (strcmp(buf, claimed) != 0) {
		log_clean(shown, sizeof shown, claimed, strlen(claimed));
		log_warn("client address claimed %s, the kernel says %s: %s used",
			 shown, rc < 0 ? "nothing" : buf,
			 rc < 0 ? "none" : "the kernel's");
	}
	return buf;
}
