// links: queue/queue_commit.c queue/queue_commit_sync.c queue/queue_name.c queue/queue_seal.c queue/queue_inject.c queue/queue_archive.c queue/queue_job.c queue/queue_env.c queue/queue_spool.c queue/queue_received.c queue/queue_dirs.c queue/queue_pool.c queue/queue_admit.c queue/queue_dkim.c queue/queue_dkim_hdr.c queue/queue_dkim_keys.c queue/queue_rules.c queue/queue_dkim_ed.c
/* test_queue_reason.c: relay-queue's refusals carry their reason as a
 * key (qreason.h), never only as text: the names round-trip, errno maps
 * to nospace or io, and the reply frame of a refusal says status= and
 * reason= (and a success says no reason). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../queue/queue.h"
#include "exitcodes.h"
#include "kv.h"
#include "ns.h"
#include "wire_queue.h"
#include "t.h"

/* The reply queue_job_reply writes for r, parsed; 0 or -1. */
static int reply_of(const struct queue_result *r, struct kv_msg *m)
{
	static char buf[4096];
	int sv[2];
	ssize_t n;
	char *colon;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	queue_job_reply(sv[0], r, NULL);
	n = read(sv[1], buf, sizeof buf - 1);
	close(sv[0]);
	close(sv[1]);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	colon = strchr(buf, ':'); /* netstring: len ":" payload "," */
	if (!colon || buf[n - 1] != ',')
		return -1;
	return kv_parse(m, colon + 1, (size_t)(buf + n - 1 - (colon + 1)));
}

int main(void)
{
	static struct kv_msg m;
	struct queue_result r;

	for (int i = QREASON_ENVELOPE; i <= QREASON_BUSY; i++) {
		char name[64];
		snprintf(name, sizeof name, "reason %d round-trips (%s)", i,
			 qreason_name((enum qreason)i));
		T_CHECK(name, *qreason_name((enum qreason)i) &&
			qreason_parse(qreason_name((enum qreason)i)) == (enum qreason)i);
	}
	T_CHECK("unknown or missing reason: none",
		qreason_parse("disk full") == QREASON_NONE &&
		qreason_parse(NULL) == QREASON_NONE && !*qreason_name(QREASON_NONE));
	T_CHECK("ENOSPC and EDQUOT: nospace, EIO: io",
		qreason_errno(ENOSPC) == QREASON_NOSPACE &&
		qreason_errno(EDQUOT) == QREASON_NOSPACE &&
		qreason_errno(EIO) == QREASON_IO);

	memset(&r, 0, sizeof r);
	r.status = EXIT_PERM;
	r.reason = QREASON_ENVELOPE;
	snprintf(r.text, sizeof r.text, "bad info value");
	T_CHECK("a permanent refusal's frame: status=100 reason=envelope",
		reply_of(&r, &m) == 0 && !strcmp(kv_get_or(&m, "status", ""), "100") &&
		!strcmp(kv_get_or(&m, WIRE_QUEUE_REASON, ""), "envelope") &&
		!strcmp(kv_get_or(&m, "text", ""), "bad info value"));
	memset(&r, 0, sizeof r);
	r.status = EXIT_DONE;
	r.reason = QREASON_IO; /* left over: never sent with status 0 */
	snprintf(r.qid, sizeof r.qid, "ABC123");
	T_CHECK("a success's frame: id, no reason",
		reply_of(&r, &m) == 0 && !strcmp(kv_get_or(&m, "id", ""), "ABC123") &&
		!kv_get(&m, WIRE_QUEUE_REASON));
	return t_done();
}
