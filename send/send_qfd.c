/* send_qfd.c: the queue file a message was loaded from, kept open for
 * its first job.  relay-send opens new/<id> to load a message and again
 * to attach it to the job; a message the watch of new/ just named is
 * mostly sent within milliseconds, so the descriptor of the load (opened
 * and checked by send_msg_open) is kept for that job: no second open,
 * fstat and close per message.  Only for messages the watch named (it
 * tells of a hold or delete since, which marks the message gone), at
 * most QFD_MAX at a time and within the descriptor limit; the first job
 * takes it, and a message that leaves without one closes it. */
#include "send.h"
#include "settings.h"

#include <sys/resource.h>
#include <unistd.h>

#define QFD_MAX 256     /* kept at most, whatever the limit */
#define QFD_SPARE 64    /* descriptors left for everything else */

static long qfd_kept;
static long qfd_cap = -1;

/* The cap: what the descriptor limit leaves after a connection per
 * relay-remote worker and the spare, halved, at most QFD_MAX. */
static long qfd_limit(void)
{
	struct rlimit rl;
	long room;

	if (qfd_cap >= 0)
		return qfd_cap;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1024;
	room = ((long)rl.rlim_cur - cf.remote_workers - QFD_SPARE) / 2;
	qfd_cap = room < 0 ? 0 : room > QFD_MAX ? QFD_MAX : room;
	return qfd_cap;
}

void send_qfd_keep(struct send_msg *m, int fd)
{
	if (m->qfd_kept || qfd_kept >= qfd_limit()) {
		close(fd);
		return;
	}
	m->qfd = fd;
	m->qfd_kept = 1;
	qfd_kept++;
}

int send_qfd_take(struct send_msg *m)
{
	if (!m->qfd_kept)
		return -1;
	m->qfd_kept = 0;
	qfd_kept--;
	return m->qfd;
}

void send_qfd_close(struct send_msg *m)
{
	int fd = send_qfd_take(m);

	if (fd >= 0)
		close(fd);
}
