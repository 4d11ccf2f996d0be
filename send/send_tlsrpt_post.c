/* send_tlsrpt_post.c: a TLS-RPT report for an https: rua.  relay-send
 * does not talk to the Internet: it gives the report to relay-remote on
 * a connection of its own (a post frame, the JSON attached as a memfd,
 * wire_remote.h), and relay-remote POSTs it.  That is done by a
 * grandchild, so that the scheduler neither waits for the POST nor
 * keeps a child to reap; the result is the grandchild's log line.  No
 * retry: a report that cannot be posted is lost, as RFC 8460 5 allows. */
#include "send.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "kv.h"
#include "log.h"
#include "ns.h"
#include "runsock.h"
#include "sendlock.h"
#include "settings.h"
#include "usock.h"
#include "wire_remote.h"

/* The grandchild: hand the report over and wait for the answer. */
static int post_run(const char *url, const char *json, size_t len)
{
	char path[4200], line[1000], frame[1024], *payload;
	struct timeval tv = { .tv_sec = 2 * cf.mta_sts_timeout + 30 };
	struct ns_reader rd;
	struct kv_msg m;
	size_t plen, flen;
	int body = memfd_create("relaybox-tlsrpt", MFD_CLOEXEC), sock;
	int n = snprintf(line, sizeof line, "%s=%s\n", WIRE_REMOTE_POST, url);

	if (body < 0 || io_write_all(body, json, len) < 0 ||
	    lseek(body, 0, SEEK_SET) < 0 || n < 0 || (size_t)n >= sizeof line)
		return -1;
	flen = ns_encode(frame, sizeof frame, line, (size_t)n);
	runsock_path(RUNSOCK_REMOTE, path, sizeof path);
	if ((sock = runsock_connect(RUNSOCK_REMOTE, path)) < 0)
		return -1;
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (!flen || usock_send_fds(sock, frame, flen, &body, 1) < 0 ||
	    ns_reader_init(&rd, sock) < 0 ||
	    ns_reader_next(&rd, &payload, &plen) != 1 ||
	    kv_parse(&m, payload, plen) < 0)
		return -1;
	return strcmp(kv_get_or(&m, WIRE_REMOTE_POST, ""), "ok") == 0 ? 0 : 1;
}

void send_tlsrpt_post(const char *url, const char *json, size_t len)
{
	pid_t pid;

	log_batch(0); /* nothing held for the child to write again */
	pid = fork();
	if (pid < 0) {
		log_warn("tls-rpt: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		sendlock_forget(); /* it may outlive us: not with the queue */
		int rc = post_run(url, json, len);
		if (rc < 0)
			log_warn("tls-rpt: cannot hand the report for %s to "
				 "relay-remote", url);
		_exit(rc == 0 ? 0 : 111);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	log_batch(1);
}
