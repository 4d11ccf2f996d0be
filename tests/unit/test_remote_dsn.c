// links: send/remote_dsn.c
/* test_remote_dsn.c: what relay-remote adds to MAIL and RCPT from the
 * queue file's DSN parameters: nothing to a server without DSN, the
 * client's values as they are to one with it, nothing for a recipient
 * without them; a bad RET or ENVID in a (hostile) file is left out; and
 * which deliveries owe a "relayed" notice (nodsn). */
#include "../../send/remote.h"
#include "t.h"

#define QF "relaybox-queue 1\nqid=A1\ntime=1\ndsn_ret=HDRS\n" \
	   "dsn_envid=E+2B1\nfrom=a@example.com\nrcpt=b@example.org\n" \
	   "dsn_rcpt=0 SUCCESS,DELAY rfc822;b+2Bx@example.org\n" \
	   "rcpt=c@example.org\nrcpt=d@example.org\ndsn_rcpt=2 NEVER -\n\n"
#define BAD "relaybox-queue 1\nqid=A1\ntime=1\ndsn_ret=ALL\n" \
	    "dsn_envid=x\rRCPT TO:<evil@example.org>\nfrom=a@example.com\n" \
	    "rcpt=b@example.org\n\n"

int main(void)
{
	struct remote_qfile q = { 0 };
	struct remote_conn c = { 0 };
	struct remote_rcpt r = { 0 };
	char buf[DSN_RCPT_TEXT + 32], err[64];

	T_CHECK("queue file parses",
		qfile_parse(&q.hdr, QF, strlen(QF), 0, err, sizeof err) == 0);
	remote_dsn_mail(&c, &q, buf, sizeof buf);
	T_STREQ("no DSN: MAIL as before", buf, "");
	remote_dsn_rcpt(&c, &q, 0, buf, sizeof buf);
	T_STREQ("no DSN: RCPT as before", buf, "");
	c.ext = REMOTE_EXT_DSN;
	remote_dsn_mail(&c, &q, buf, sizeof buf);
	T_STREQ("DSN: MAIL RET and ENVID", buf, " RET=HDRS ENVID=E+2B1");
	remote_dsn_rcpt(&c, &q, 0, buf, sizeof buf);
	T_STREQ("DSN: RCPT NOTIFY and ORCPT", buf,
		" NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@example.org");
	remote_dsn_rcpt(&c, &q, 1, buf, sizeof buf);
	T_STREQ("DSN: a recipient without parameters", buf, "");
	remote_dsn_rcpt(&c, &q, 2, buf, sizeof buf);
	T_STREQ("DSN: NEVER", buf, " NOTIFY=NEVER");

	r.status = 'D';
	r.index = 0;
	remote_dsn_delivered(&c, &q, &r);
	T_CHECK("DSN hop: it owes the success notice", !r.nodsn);
	c.ext = 0;
	remote_dsn_delivered(&c, &q, &r);
	T_CHECK("no DSN, SUCCESS asked: nodsn", r.nodsn);
	r.index = 2;
	remote_dsn_delivered(&c, &q, &r);
	T_CHECK("no DSN, NEVER: no notice", !r.nodsn);
	r.index = 0;
	r.status = 'T';
	remote_dsn_delivered(&c, &q, &r);
	T_CHECK("not delivered: no notice", !r.nodsn);
	qfile_free(&q.hdr);

	T_CHECK("hostile file parses",
		qfile_parse(&q.hdr, BAD, strlen(BAD), 0, err, sizeof err) == 0);
	c.ext = REMOTE_EXT_DSN;
	remote_dsn_mail(&c, &q, buf, sizeof buf);
	T_STREQ("hostile RET and ENVID left out", buf, "");
	qfile_free(&q.hdr);
	return t_done();
}
