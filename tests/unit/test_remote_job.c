// links: send/remote_job.c
/* test_remote_job.c: the job frame (good and malformed) and the result
 * frame relay-remote answers with. */
#include "../../send/remote.h"
#include "t.h"

#include <stddef.h>
#include <stdlib.h>

#include "ns.h"

static const struct {
	const char *name, *frame;
	int ok;
} cases[] = {
	{ "minimal mx job", "qid=Q1\nfile=/q/new/Q1\ndomain=example.test\n"
	  "rcpt=0 a@example.test\n", 1 },
	{ "fixed host", "qid=Q1\nfile=/q/new/Q1\nhost=smart.test\nport=587\n"
	  "tls=verify\nauth=up\nrcpt=3 a@x.test\nrcpt=7 b@y.test\n", 1 },
	{ "quoted local part", "qid=Q\nfile=/f\ndomain=x.test\n"
	  "rcpt=0 \"a.b\"@x.test\n", 1 },
	{ "quoted local part with a space", "qid=Q\nfile=/f\ndomain=x.test\n"
	  "rcpt=0 \"a b\"@x.test\n", 0 },
	{ "no qid", "file=/f\ndomain=x.test\nrcpt=0 a@x.test\n", 0 },
	{ "qid with slash", "qid=../x\nfile=/f\ndomain=x\nrcpt=0 a@x\n", 0 },
	{ "relative file", "qid=Q\nfile=f\ndomain=x.test\nrcpt=0 a@x.test\n", 0 },
	{ "no recipients", "qid=Q\nfile=/f\ndomain=x.test\n", 0 },
	{ "no host or domain", "qid=Q\nfile=/f\nrcpt=0 a@x.test\n", 0 },
	{ "bad tls", "qid=Q\nfile=/f\ndomain=x\ntls=maybe\nrcpt=0 a@x\n", 0 },
	{ "tls_wrap yes", "qid=Q\nfile=/f\nhost=h\ntls_wrap=yes\nrcpt=0 a@x\n", 1 },
	{ "tls_wrap no", "qid=Q\nfile=/f\nhost=h\ntls_wrap=no\nrcpt=0 a@x\n", 1 },
	{ "tls_wrap junk", "qid=Q\nfile=/f\nhost=h\ntls_wrap=1\nrcpt=0 a@x\n", 0 },
	{ "tls_wrap to the MX", "qid=Q\nfile=/f\ndomain=x\ntls_wrap=yes\nrcpt=0 a@x\n", 0 },
	{ "port 0 = default", "qid=Q\nfile=/f\nhost=h\nport=0\nrcpt=0 a@x\n", 1 },
	{ "bad port", "qid=Q\nfile=/f\nhost=h\nport=70000\nrcpt=0 a@x\n", 0 },
	{ "negative port", "qid=Q\nfile=/f\nhost=h\nport=-1\nrcpt=0 a@x\n", 0 },
	{ "port junk", "qid=Q\nfile=/f\nhost=h\nport=25x\nrcpt=0 a@x\n", 0 },
	{ "auth path", "qid=Q\nfile=/f\nhost=h\nauth=../etc\nrcpt=0 a@x\n", 0 },
	{ "auth dotfile", "qid=Q\nfile=/f\nhost=h\nauth=.x\nrcpt=0 a@x\n", 0 },
	{ "rcpt no index", "qid=Q\nfile=/f\ndomain=x\nrcpt=a@x\n", 0 },
	{ "rcpt negative", "qid=Q\nfile=/f\ndomain=x\nrcpt=-1 a@x\n", 0 },
	{ "rcpt brackets", "qid=Q\nfile=/f\ndomain=x\nrcpt=0 <a@x>\n", 0 },
	{ "rcpt control byte", "qid=Q\nfile=/f\ndomain=x\nrcpt=0 a\x01b@x\n", 0 },
	{ "rcpt CR", "qid=Q\nfile=/f\ndomain=x\nrcpt=0 a@x\r\n", 0 },
	{ "rcpt no domain", "qid=Q\nfile=/f\ndomain=x\nrcpt=0 postmaster\n", 0 },
};

static int parse(const char *frame, struct remote_job *job)
{
	static struct kv_msg m;
	static char buf[4096];
	char err[256];
	snprintf(buf, sizeof buf, "%s", frame);
	if (kv_parse(&m, buf, strlen(buf)) < 0)
		return -1;
	return remote_job_parse(job, &m, err, sizeof err);
}

static void test_parse(void)
{
	struct remote_job job;
	char name[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = parse(cases[i].frame, &job);
		snprintf(name, sizeof name, "job parse %s", cases[i].name);
		T_CHECK(name, (rc == 0) == cases[i].ok);
		if (rc == 0)
			remote_job_free(&job);
	}
	T_CHECK("job fields parsed", parse(cases[1].frame, &job) == 0);
	T_STREQ("job host", job.host, "smart.test");
	T_CHECK("job port", job.port == 587);
	T_CHECK("job tls verify", job.tls == REMOTE_TLS_VERIFY);
	T_STREQ("job auth", job.auth, "up");
	T_CHECK("job without tls_wrap: STARTTLS", !job.tls_wrap);
	T_CHECK("job rcpt count", job.nrcpt == 2);
	T_CHECK("job rcpt index", job.rcpt[0].index == 3 && job.rcpt[1].index == 7);
	T_STREQ("job rcpt addr", job.rcpt[1].addr, "b@y.test");
	remote_job_free(&job);
	T_CHECK("job tls_wrap=yes parsed",
		parse("qid=Q\nfile=/f\nhost=h\ntls_wrap=yes\nrcpt=0 a@x\n",
		      &job) == 0 && job.tls_wrap);
	remote_job_free(&job);
}

/* The worker parses each job into one of two structs it keeps: the
 * parse clears only what comes before the big tail (remote.h), so what
 * a job before left there must not show. */
static void test_reused(void)
{
	static struct remote_job job;

	memset(&job, 0xA5, sizeof job);
	T_CHECK("reused job parsed", parse(cases[0].frame, &job) == 0);
	T_CHECK("reused job: no queue fd, not open", job.qfd == -1 &&
		!job.q_open && !job.seq && !job.started);
	T_CHECK("reused job: no DANE or MTA-STS state",
		job.sec.kind == REMOTE_SEC_NONE && job.sec.ntlsa == 0 &&
		!job.sts_on && !job.mx_secure);
	T_CHECK("reused job: no TLS-RPT records", job.nrpt == 0);
	T_STREQ("reused job: relay", job.relay, "none");
	T_STREQ("reused job: tls", job.tlsdesc, "none");
	T_STREQ("reused job: file", job.file, "/q/new/Q1");
	T_CHECK("reused job: port, auth", job.port == 0 && !job.auth[0] &&
		!job.auth_unverified && job.tls == REMOTE_TLS_MAY);
	T_CHECK("reused job: recipient pending",
		job.nrcpt == 1 && job.rcpt[0].status == 0 && !job.rcpt[0].nodsn);
	remote_job_free(&job);
}

static void test_result(void)
{
	struct remote_job job;
	struct kv out;
	static struct kv_msg m;
	const char *r[4];

	parse(cases[1].frame, &job);
	job.rcpt[0].status = 'D';
	job.rcpt[0].code = 250;
	snprintf(job.rcpt[0].text, sizeof job.rcpt[0].text, "2.0.0 ok\nX");
	remote_job_fail_pending(&job, 'B', 550, "5.1.1 unknown");
	T_CHECK("job pending after fail_pending", remote_job_pending(&job) == 0);
	snprintf(job.relay, sizeof job.relay, "mx.test[127.0.0.1]:25");
	snprintf(job.tlsdesc, sizeof job.tlsdesc, "none");
	kv_init(&out);
	remote_job_result(&job, &out);
	T_CHECK("result parses", !out.failed &&
				     kv_parse(&m, out.buf, out.len) == 0);
	T_CHECK("result two rcpt lines", kv_get_all(&m, "rcpt", r, 4) == 2);
	T_STREQ("result delivered, newline cleaned", r[0], "3 D 250 2.0.0 ok?X");
	T_STREQ("result bounced", r[1], "7 B 550 5.1.1 unknown");
	T_STREQ("result relay", kv_get(&m, "relay"), "mx.test[127.0.0.1]:25");
	T_STREQ("result tls", kv_get(&m, "tls"), "none");
	kv_free(&out);
	remote_job_free(&job);
}

/* Labels of 40 bytes with sep between them, as many as buf holds (a
 * name: up to 253 bytes). */
static void long_name(char *buf, size_t n, char sep)
{
	size_t o = 0;

	while (o + 41 < n && (sep != '.' || o + 40 <= 253)) {
		if (o)
			buf[o++] = sep;
		memset(buf + o, 'a', 40);
		o += 40;
	}
	buf[o] = '\0';
}

/* A job of n recipients, each with a reply text of len bytes (long
 * from the first long of them on), nodsn set, and nrpt full TLS-RPT
 * records. */
static void big_job(struct remote_job *job, size_t n, size_t first_long,
		    size_t len, size_t nrpt)
{
	memset(job, 0, offsetof(struct remote_job, file));
	job->rcpt = calloc(n, sizeof *job->rcpt);
	job->nrcpt = n;
	snprintf(job->qid, sizeof job->qid, "QBIG");
	memset(job->relay, 'r', sizeof job->relay - 1);
	memset(job->tlsdesc, 't', sizeof job->tlsdesc - 1);
	for (size_t i = 0; i < n; i++) {
		struct remote_rcpt *r = &job->rcpt[i];
		r->index = 100000 + (long)i;
		r->status = 'D';
		r->code = 250;
		r->nodsn = 1;
		if (i < first_long)
			snprintf(r->text, sizeof r->text, "2.0.0 short %zu", i);
		else
			memset(r->text, 'A', len);
	}
	job->nrpt = nrpt;
	for (size_t i = 0; i < nrpt; i++) {
		struct tlsrpt_rec *t = &job->rpt[i];
		memset(t, 0, sizeof *t);
		long_name(t->domain, sizeof t->domain, '.');
		snprintf(t->policy, sizeof t->policy, "sts");
		snprintf(t->result, sizeof t->result, "success");
		long_name(t->mx, sizeof t->mx, '.');
		snprintf(t->ip, sizeof t->ip, "192.0.2.1");
		strcpy(t->detail, "enforce,86400,");
		long_name(t->detail + 14, sizeof t->detail - 14, ',');
		t->count = 1;
	}
}

/* Over NS_MAX as it comes: still one frame, every recipient's code in
 * it, the texts cut alike, short ones whole. */
static void test_result_big(void)
{
	static struct kv_msg m;
	static const char *r[256];
	struct remote_job job;
	struct kv out;
	size_t n, cut = 0, same = 1;
	char first_short[64];

	big_job(&job, 200, 20, REMOTE_TEXT_MAX - 1, REMOTE_TRIES_MAX);
	snprintf(first_short, sizeof first_short, "%.40s", job.rcpt[0].text);
	kv_init(&out);
	remote_job_result(&job, &out);
	T_CHECK("big result: within NS_MAX", !out.failed && out.len <= NS_MAX);
	T_CHECK("big result parses", kv_parse(&m, out.buf, out.len) == 0);
	n = kv_get_all(&m, "rcpt", r, 256);
	T_CHECK("big result: every recipient", n == 200);
	for (size_t i = 20; i < n; i++) {
		size_t l = strlen(r[i]) - strlen("100020 D 250 ");
		cut = cut ? cut : l;
		same &= l == cut && strncmp(r[i] + 13, "AAAA", 4) == 0;
	}
	T_CHECK("big result: long texts cut alike", same && cut > 100 &&
		cut < REMOTE_TEXT_MAX - 1);
	T_STREQ("big result: short text whole", r[0] + 13, first_short);
	T_CHECK("big result: TLS-RPT kept",
		kv_get_all(&m, "tlsrpt", r, 256) == REMOTE_TRIES_MAX);
	T_CHECK("big result: nodsn kept", kv_get_all(&m, "nodsn", r, 256) == 200);
	kv_free(&out);
	remote_job_free(&job);
	/* the most recipients a frame can carry (KV_MAXPAIRS), all long */
	big_job(&job, KV_MAXPAIRS / 2 - 8, 0, REMOTE_TEXT_MAX - 1,
		REMOTE_TRIES_MAX);
	kv_init(&out);
	remote_job_result(&job, &out);
	T_CHECK("biggest result: within NS_MAX", !out.failed &&
		out.len <= NS_MAX && kv_parse(&m, out.buf, out.len) == 0 &&
		kv_get_all(&m, "rcpt", r, 256) == job.nrcpt);
	kv_free(&out);
	remote_job_free(&job);
}

/* A good frame with random bytes changed: parse or refuse, never crash;
 * what parses keeps its promises (a recipient with '@', no control byte). */
static void test_mutations(void)
{
	static struct kv_msg m;
	static char buf[512];
	const char *good = cases[1].frame;
	size_t n = strlen(good);
	unsigned seed = 3;
	int ok = 1, parsed = 0;

	for (int round = 0; round < 20000; round++) {
		struct remote_job job;
		char err[128];
		memcpy(buf, good, n + 1);
		for (int k = 0; k < 3; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 16) % n] = (char)(seed >> 8);
		}
		if (kv_parse(&m, buf, strlen(buf)) < 0 ||
		    remote_job_parse(&job, &m, err, sizeof err) < 0)
			continue;
		parsed++;
		for (size_t i = 0; i < job.nrcpt; i++)
			ok &= addr_mailbox_check(job.rcpt[i].addr, 1) == ADDR_OK;
		ok &= job.qid[0] && !strchr(job.qid, '/') && job.file[0] == '/';
		remote_job_free(&job);
	}
	T_CHECK("mutated frames: what parses is sane", ok);
	T_CHECK("mutated frames: some still parse", parsed > 0);
}

/* The operator vouches (tls_ca, private addresses) for a fixed host
 * and for the MX hosts of a domain a rcpt route names, nothing else. */
static void test_operator_hop(void)
{
	static const struct {
		const char *host, *via, *domain;
		int yes;
	} c[] = {
		{ "smart.test", "relayhost", "", 1 },
		{ "smart.test", "route:sender:a.test", "x.test", 1 },
		{ "", "route:rcpt:corp.test", "corp.test", 1 },
		{ "", "route:rcpt:corp.test", "CORP.test", 1 },
		{ "", "route:rcpt:.corp.test", "a.b.corp.test", 1 },
		{ "", "route:rcpt:.corp.test", "corp.test", 0 },
		{ "", "route:rcpt:.corp.test", "xcorp.test", 0 },
		{ "", "route:rcpt:corp.test", "evilcorp.test", 0 },
		{ "", "route:rcpt:corp.test", "a.corp.test", 0 },
		{ "", "route:rcpt:", "corp.test", 0 },
		{ "", "route:sender:corp.test", "corp.test", 0 },
		{ "", "route:default", "corp.test", 0 },
		{ "", "mx", "corp.test", 0 },
		{ "", "", "corp.test", 0 },
	};
	struct remote_job job;

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char name[160];
		memset(&job, 0, offsetof(struct remote_job, file));
		snprintf(job.host, sizeof job.host, "%s", c[i].host);
		snprintf(job.via, sizeof job.via, "%s", c[i].via);
		snprintf(job.domain, sizeof job.domain, "%s", c[i].domain);
		snprintf(name, sizeof name, "operator hop for host=%s via=%s domain=%s",
			 c[i].host, c[i].via, c[i].domain);
		T_CHECK(name, remote_job_operator_hop(&job) == c[i].yes);
	}
}

int main(void)
{
	test_parse();
	test_reused();
	test_result();
	test_result_big();
	test_mutations();
	test_operator_hop();
	return t_done();
}
