// links: ctl/master_ready.c ctl/master_child.c ctl/master_log.c ctl/master_tls.c ctl/master_run.c
/* test_master_ready.c: relay-master's readiness check reads LISTEN
 * sockets from /proc/net/tcp{,6}; the address forms of the listen setting
 * must match what relay-listen binds, and nothing else.  Also the log's
 * timestamp format, which relayctl log's --since/--until compare. */
#include "t.h"
#include "../../ctl/master.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Listen on ip (v4 or v6) at an ephemeral port; returns the fd, *port. */
static int listen_on(int family, const char *ip, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_STREAM, 0);

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s4->sin_addr);
		len = sizeof *s4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
		len = sizeof *s6;
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, 1) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	len = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
				  : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

struct ready_case {
	const char *fmt;   /* with %u for the port */
	int want;
};

static void run_cases(const char *what, unsigned port,
		      const struct ready_case *c, size_t n)
{
	char addr[128], name[256];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof addr, c[i].fmt, port);
		snprintf(name, sizeof name, "%s: \"%s\" listening = %d", what,
			 c[i].fmt, c[i].want);
		T_CHECK(name, master_ready_listening(addr) == c[i].want);
	}
}

int main(void)
{
	static const struct ready_case v4[] = {
		{ "127.0.0.1:%u", 1 },
		{ "*:%u", 1 },
		{ ":%u", 1 },
		{ "127.0.0.2:%u", 0 },   /* bound to .1 only */
		{ "[::1]:%u", 0 },
		{ "127.0.0.1", 0 },      /* no port */
		{ "127.0.0.1:0", 0 },
		{ "127.0.0.1:99999", 0 },
	};
	static const struct ready_case v6[] = {
		{ "[::1]:%u", 1 },
		{ "[::2]:%u", 0 },
		{ "127.0.0.1:%u", 0 },
		{ "[::1:%u", 0 },
	};
	char stamp[40];
	unsigned port;
	int fd;

	fd = listen_on(AF_INET, "127.0.0.1", &port);
	T_CHECK("listen on 127.0.0.1", fd >= 0);
	if (fd >= 0) {
		run_cases("v4", port, v4, sizeof v4 / sizeof v4[0]);
		close(fd);
		T_CHECK("v4: closed socket no longer listening",
			!master_ready_listening((snprintf(stamp, sizeof stamp,
							  "127.0.0.1:%u", port),
						 stamp)));
	}
	fd = listen_on(AF_INET6, "::1", &port);
	if (fd >= 0) {
		run_cases("v6", port, v6, sizeof v6 / sizeof v6[0]);
		close(fd);
	} else {
		printf("# no IPv6 loopback: v6 cases skipped\n");
	}

	master_log_stamp(stamp, sizeof stamp);
	T_CHECK("stamp: 23 characters", strlen(stamp) == 23);
	T_CHECK("stamp: YYYY-MM-DDTHH:MM:SS.mmm",
		stamp[4] == '-' && stamp[7] == '-' && stamp[10] == 'T' &&
		stamp[13] == ':' && stamp[16] == ':' && stamp[19] == '.' &&
		strspn(stamp + 20, "0123456789") == 3);
	return t_done();
}
