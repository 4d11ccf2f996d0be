/* smtp_worker.c: the pool worker's loop (see smtp_worker.h).  The worker
 * never decides when to stop: relay-listen counts its sessions
 * (smtpd_max_use) and closes the control socket to retire it, so a
 * session is never handed to a worker that is on its way out. */
#include "smtp_worker.h"
#include "smtp_session.h"
#include "exitcodes.h"
#include "io.h"
#include "kv.h"
#include "log.h"
#include "ns.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int smtp_worker_peer(const struct kv_msg *m, struct smtp_peer *p)
{
	const char *tls = kv_get_or(m, "tls", "0");

	if (strcmp(kv_get_or(m, "op", ""), "session") != 0 ||
	    (strcmp(tls, "0") != 0 && strcmp(tls, "1") != 0))
		return -1;
	p->ip = kv_get_or(m, "ip", "unknown");
	p->port = kv_get_or(m, "port", "0");
	p->localip = kv_get_or(m, "localip", "unknown");
	p->localport = kv_get_or(m, "localport", "0");
	p->tls = tls[0] == '1';
	return 0;
}

/* One session on fd; the facts come from the frame. */
static int worker_session(char *payload, size_t len, int fd)
{
	static struct kv_msg m; /* 8 KiB: not on the stack */
	struct smtp_peer p;

	if (kv_parse(&m, payload, len) < 0 || smtp_worker_peer(&m, &p) < 0) {
		log_warn("worker: bad session frame from relay-listen");
		return -1;
	}
	smtp_session_run(fd, fd, &p);
	return 0;
}

int smtp_worker_run(int ctl)
{
	struct ns_reader rd;
	char *payload;
	size_t len;

	if (ns_reader_init(&rd, ctl) < 0)
		log_fatal(EXIT_TEMP, "out of memory");
	for (;;) {
		int fds[1], nfds = 0, rc;

		rc = ns_reader_next_fds(&rd, &payload, &len, fds, &nfds, 1);
		if (rc < 0 && errno == 0 && nfds == 0)
			break; /* retired */
		if (rc < 0 || nfds != 1) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			log_fatal(EXIT_TEMP, "worker: bad frame from relay-listen");
		}
		rc = worker_session(payload, len, fds[0]);
		if (rc < 0)
			return EXIT_TEMP;
		/* "done" before the close: the client's next connection,
		 * made as soon as it sees the close, then finds this worker
		 * idle instead of making relay-listen start another */
		if (io_write_all(ctl, SMTP_WORKER_DONE,
				 sizeof SMTP_WORKER_DONE - 1) < 0)
			break; /* relay-listen is gone */
		close(fds[0]);
	}
	ns_reader_free(&rd);
	return EXIT_DONE;
}
