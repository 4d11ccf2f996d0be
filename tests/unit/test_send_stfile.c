// links: send/send_msg.c send/send_dest.c send/send_qfd.c send/send_stfile.c send/send_ready.c send/send_cust.c send/send_sched.c
/* test_send_stfile.c: relay-send opens state/<id> only when the message
 * may have one.  Before state/ was listed every message may; the sweep
 * lists what is there (kept for messages in new/ or hold/, orphans
 * removed; kept too for a message released while the sweep looks); a
 * result recorded since is known; a removed one is forgotten.  Checked through send_msg_load on a real queue directory:
 * a state file the set does not know of (one relay-send cannot have
 * missed, since only relay-send writes state/) is the probe that shows
 * whether the open was skipped. */
#include "../../send/send.h"
#include "t.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char qdir[256];

static void put(const char *sub, const char *id, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s/%s", qdir, sub, id);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void put_msg(const char *sub, const char *id)
{
	char text[512];

	snprintf(text, sizeof text, "relaybox-queue 1\nqid=%s\ntime=1000\n"
		 "from=a@example.com\nrcpt=b@example.org\n\nSubject: x\r\n"
		 "\r\nhello\r\n", id);
	put(sub, id, text);
}

/* The status of recipient 0 of id as send_msg_load sees it. */
static char loaded(const char *id)
{
	struct send_msg *m = send_msg_load(qdir, id, 0);
	char st;

	if (!m)
		return '?';
	st = m->st.r[0].status;
	qstate_free(&m->st);
	qfile_free(&m->q);
	free(m->busy);
	free(m);
	return st;
}

static void move(const char *from, const char *to, const char *id)
{
	char a[PATH_MAX], b[PATH_MAX];

	snprintf(a, sizeof a, "%s/%s/%s", qdir, from, id);
	snprintf(b, sizeof b, "%s/%s/%s", qdir, to, id);
	rename(a, b);
}

/* A release at the worst moment: when relay-send's sweep first looks
 * for hold/<id> (after it found no new/<id>), the message moves from
 * hold/ to new/ just before the answer.  The sweep's own calls come
 * here, the executable's access() before libc's. */
static const char *release_when_looked_at;

int access(const char *path, int mode)
{
	const char *id = release_when_looked_at;
	size_t n = id ? strlen(path) : 0, idlen = id ? strlen(id) : 0;

	if (id && n > idlen + 6 && strcmp(path + n - idlen, id) == 0 &&
	    strncmp(path + n - idlen - 6, "/hold/", 6) == 0) {
		release_when_looked_at = NULL;
		move("hold", "new", id);
	}
	return faccessat(AT_FDCWD, path, mode, 0);
}

static int exists(const char *sub, const char *id)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s/%s", qdir, sub, id);
	return access(path, F_OK) == 0;
}

int main(void)
{
	static const char *subs[] = { "new", "hold", "state" };
	const char *dline = "0 D 1000 0 250 ok\n";
	char tmpl[] = "/tmp/test_send_stfile.XXXXXX", path[PATH_MAX];
	struct send_msg *m;

	if (!mkdtemp(tmpl))
		return 1;
	send_msg_owners_init(); /* the files here are ours */
	snprintf(qdir, sizeof qdir, "%s", tmpl);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", qdir, subs[i]);
		mkdir(path, 0700);
	}
	put_msg("new", "AA01");
	put("state", "AA01", dline);
	T_CHECK("before the listing: a state file is read", loaded("AA01") == 'D');

	put_msg("hold", "AA02");
	put("state", "AA02", dline);
	put("state", "AA03", dline); /* orphan: no message */
	send_msg_sweep(qdir);
	T_CHECK("sweep: orphan removed", !exists("state", "AA03"));
	T_CHECK("sweep: state of a message in new/ kept and read",
		loaded("AA01") == 'D');
	move("hold", "new", "AA02"); /* released */
	T_CHECK("sweep: state of a held message read after its release",
		loaded("AA02") == 'D');

	put_msg("new", "AA04"); /* new since the sweep: no open */
	put("state", "AA04", dline);
	T_CHECK("a message unknown to the set is loaded without its state",
		loaded("AA04") == 'P');

	put_msg("new", "AA05");
	m = send_msg_load(qdir, "AA05", 0);
	T_CHECK("a new message loads", m && m->st.r[0].status == 'P');
	if (m) {
		char lines[200];
		size_t len = qstate_format(lines, sizeof lines, 0, 'T', 1000,
					   2000, 451, "later");
		T_CHECK("a result is recorded",
			send_msg_record(qdir, m, lines, len) == 0);
		T_CHECK("a recorded state file is read again",
			loaded("AA05") == 'T');
		send_msg_remove(qdir, m);
		T_CHECK("remove: state file gone", !exists("state", "AA05"));
		qstate_free(&m->st);
		qfile_free(&m->q);
		free(m->busy);
		free(m);
	}
	put_msg("new", "AA05"); /* the same id again (a test's trick) */
	put("state", "AA05", dline);
	T_CHECK("a removed state file is forgotten", loaded("AA05") == 'P');

	put_msg("hold", "AA06");
	put("state", "AA06", dline);
	release_when_looked_at = "AA06";
	send_msg_sweep(qdir);
	T_CHECK("sweep: released between its looks at new/ and hold/",
		!release_when_looked_at && exists("new", "AA06"));
	T_CHECK("sweep: the released message's state kept",
		exists("state", "AA06"));

	snprintf(path, sizeof path, "rm -rf '%s'", qdir);
	if (system(path) != 0)
		return 1;
	return t_done();
}
