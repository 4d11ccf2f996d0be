// links: smtpd/smtp_policy.c smtpd/smtp_frame.c
/* test_smtp_policy.c: parsing relay-policy's verdicts; garbage must never
 * turn into an acceptance. */
#include "t.h"
#include "../../smtpd/smtp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char *payload;
	int rc;
	enum smtp_action action;
	int code;
	const char *esc, *text;
} cases[] = {
	{ "action=accept\n", 0, SMTP_ACCEPT, 0, "", "" },
	{ "action=accept\ncode=250\nesc=2.1.0\ntext=Ok\n", 0, SMTP_ACCEPT, 250,
	  "2.1.0", "Ok" },
	{ "action=reject\ncode=550\nesc=5.7.0\ntext=Mail relay denied [192.0.2.1].\n",
	  0, SMTP_REJECT, 550, "5.7.0", "Mail relay denied [192.0.2.1]." },
	{ "action=tempfail\ncode=450\nesc=4.2.1\ntext=Peak\n", 0, SMTP_TEMPFAIL,
	  450, "4.2.1", "Peak" },
	{ "action=reject\ncode=450\nesc=4.2.1\ntext=Peak\n", 0, SMTP_REJECT,
	  450, "4.2.1", "Peak" },
	{ "action=accept\ncode=550\n", -1, 0, 0, NULL, NULL },   /* contradiction */
	{ "action=reject\ncode=250\n", -1, 0, 0, NULL, NULL },
	{ "action=maybe\n", -1, 0, 0, NULL, NULL },
	{ "code=250\n", -1, 0, 0, NULL, NULL },
	{ "action=accept\ncode=25\n", -1, 0, 0, NULL, NULL },
	{ "action=accept\ncode=2500\n", -1, 0, 0, NULL, NULL },
	{ "action=accept\ncode=abc\n", -1, 0, 0, NULL, NULL },
	{ "action=accept\ncode=699\n", -1, 0, 0, NULL, NULL },
	{ "action=accept", -1, 0, 0, NULL, NULL },
	{ "garbage\n", -1, 0, 0, NULL, NULL },
	{ "action=reject\ncode=550\ntext=a\rb\x01\n", 0, SMTP_REJECT, 550, "",
	  "a?b?" },
};

/* The exchange with relay-policy over a socketpair: this process plays
 * policy on sv[1], answers written before smtpd asks. */
struct pair {
	struct smtp_policy p;
	int peer;
};

static void pair_open(struct pair *x)
{
	int sv[2];

	memset(x, 0, sizeof *x);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	x->p.fd = sv[0];
	x->p.timeout_ms = 2000;
	ns_reader_init(&x->p.rd, sv[0]);
	x->peer = sv[1];
}

/* Everything smtpd wrote so far, NUL-terminated ("" when nothing). */
static const char *peer_got(struct pair *x)
{
	static char buf[4096];
	ssize_t n = recv(x->peer, buf, sizeof buf - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void peer_says(struct pair *x, const char *frames)
{
	if (write(x->peer, frames, strlen(frames)) < 0)
		perror("write");
}

/* The netstrings of up to three payloads, concatenated. */
static const char *ns3(const char *a, const char *b, const char *c)
{
	static char buf[3][1024];
	static int turn;
	char *out = buf[turn++ % 3];
	const char *pl[3] = { a, b, c };
	size_t n = 0;

	for (int i = 0; i < 3 && pl[i]; i++)
		n += ns_encode(out + n, 1024 - n, pl[i], strlen(pl[i]));
	out[n] = '\0';
	return out;
}

static void req(struct kv *k, const char *phase, const char *key,
		const char *val)
{
	kv_init(k);
	kv_add(k, "phase", phase);
	if (key)
		kv_add(k, key, val);
}

static void test_exchange(void)
{
	struct pair x;
	struct smtp_verdict v;
	struct kv k;

	/* helo is held: nothing goes out until the next request, then both
	 * in one write; helo says noreply, so the first reply is the mail
	 * verdict */
	pair_open(&x);
	req(&k, "helo", "helo", "h.example");
	T_CHECK("tell hold: ok", smtp_policy_tell(&x.p, &k, 1) == 0);
	kv_free(&k);
	T_STREQ("tell hold: nothing sent yet", peer_got(&x), "");
	peer_says(&x, ns3("action=accept\ncode=250\nesc=2.1.0\ntext=Sender ok\n",
			  NULL, NULL));
	req(&k, "mail", "from", "a@example.com");
	T_CHECK("ask after held: ok", smtp_policy_ask(&x.p, &k, &v) == 0);
	kv_free(&k);
	T_STREQ("ask after held: the mail verdict", v.text, "Sender ok");
	T_STREQ("held frame and request in one write, in order", peer_got(&x),
		ns3("phase=helo\nhelo=h.example\nnoreply=1\n",
		    "phase=mail\nfrom=a@example.com\n", NULL));
	/* commit goes at once, without a reply to wait for or to read */
	req(&k, "commit", "qid", "Q1");
	T_CHECK("tell now: ok", smtp_policy_tell(&x.p, &k, 0) == 0);
	kv_free(&k);
	T_STREQ("tell now: sent at once, noreply", peer_got(&x),
		ns3("phase=commit\nqid=Q1\nnoreply=1\n", NULL, NULL));
	T_CHECK("tell now: no reply owed", x.p.owed == 0);
	peer_says(&x, "9:action=no,"); /* no newline: garbage */
	req(&k, "rcpt", "rcpt", "b@example.org");
	T_CHECK("garbage for a verdict: fails",
		smtp_policy_ask(&x.p, &k, &v) < 0 && x.p.fd < 0);
	kv_free(&k);
	close(x.peer);

	/* post now, verdict later (DATA); a HELO held at the end of a
	 * session is forgotten, never sent */
	pair_open(&x);
	req(&k, "data", NULL, NULL);
	T_CHECK("post: ok", smtp_policy_post(&x.p, &k) == 0);
	kv_free(&k);
	T_STREQ("post: sent at once", peer_got(&x),
		ns3("phase=data\n", NULL, NULL));
	peer_says(&x, "3:abc,");
	T_CHECK("verdict: garbage is a failure", smtp_policy_verdict(&x.p, &v) < 0);
	close(x.peer);
	pair_open(&x);
	req(&k, "data", NULL, NULL);
	smtp_policy_post(&x.p, &k);
	kv_free(&k);
	peer_says(&x, ns3("action=reject\ncode=503\nesc=5.5.1\ntext=No rcpt\n",
			  NULL, NULL));
	T_CHECK("verdict: the refusal", smtp_policy_verdict(&x.p, &v) == 0 &&
					       v.action == SMTP_REJECT && v.code == 503);
	req(&k, "helo", "helo", "old");
	smtp_policy_tell(&x.p, &k, 1);
	kv_free(&k);
	smtp_policy_forget(&x.p);
	(void)peer_got(&x);
	peer_says(&x, ns3("action=accept\n", NULL, NULL));
	req(&k, "connect", "ip", "192.0.2.1");
	T_CHECK("after forget: ask ok", smtp_policy_ask(&x.p, &k, &v) == 0);
	kv_free(&k);
	T_STREQ("after forget: only the new request", peer_got(&x),
		ns3("phase=connect\nip=192.0.2.1\n", NULL, NULL));
	/* a verdict posted and never read is owed by the next request */
	req(&k, "data", NULL, NULL);
	smtp_policy_post(&x.p, &k);
	kv_free(&k);
	peer_says(&x, ns3("action=accept\n", "action=accept\n", NULL));
	req(&k, "reset", NULL, NULL);
	T_CHECK("unread verdict: next ask still ok",
		smtp_policy_ask(&x.p, &k, &v) == 0 && x.p.owed == 0);
	kv_free(&k);
	smtp_policy_close(&x.p);
	close(x.peer);

	/* a kept connection is looked at before a session starts on it */
	pair_open(&x);
	T_CHECK("alive: peer there", smtp_policy_alive(&x.p) == 1);
	/* a verdict posted and not asked for (DATA whose message never
	 * ended) is owed; its reply there does not make the peer gone */
	req(&k, "data", NULL, NULL);
	smtp_policy_post(&x.p, &k);
	kv_free(&k);
	peer_says(&x, ns3("action=accept\n", NULL, NULL));
	T_CHECK("alive: owed reply there, peer there (the reply left to be "
		"read with the next verdict)",
		smtp_policy_alive(&x.p) == 1 && x.p.owed + x.p.posted == 1);
	close(x.peer); /* policy answered, then restarted */
	T_CHECK("alive: owed reply, then the peer's end: gone",
		smtp_policy_alive(&x.p) == 0);
	smtp_policy_close(&x.p);
}

static long ms_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

/* The verdict is waited for: one that comes 200 ms late is read;
 * silence fails after the timeout, and the connection is closed. */
static void test_wait(void)
{
	struct pair x;
	struct smtp_verdict v;
	struct kv k;
	struct timespec a;
	pid_t pid;
	long ms;

	pair_open(&x);
	pid = fork();
	if (pid == 0) {
		usleep(200 * 1000);
		peer_says(&x, ns3("action=accept\ncode=250\n", NULL, NULL));
		_exit(0);
	}
	req(&k, "mail", "from", "a@example.com");
	clock_gettime(CLOCK_MONOTONIC, &a);
	T_CHECK("late verdict: read", smtp_policy_ask(&x.p, &k, &v) == 0 &&
					      v.code == 250);
	T_CHECK("late verdict: after its 200 ms", ms_since(&a) >= 150);
	waitpid(pid, NULL, 0);
	x.p.timeout_ms = 300;
	clock_gettime(CLOCK_MONOTONIC, &a);
	T_CHECK("silence: fails, connection closed",
		smtp_policy_ask(&x.p, &k, &v) < 0 && x.p.fd < 0);
	ms = ms_since(&a);
	T_CHECK("silence: after the timeout (300 ms)", ms >= 250 && ms < 3000);
	kv_free(&k);
	close(x.peer);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as in relay-smtpd */
	test_exchange();
	test_wait();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[256], name[64];
		struct smtp_verdict v;
		int rc;
		snprintf(buf, sizeof buf, "%s", cases[i].payload);
		rc = smtp_policy_parse(buf, strlen(buf), &v);
		snprintf(name, sizeof name, "verdict case %zu", i);
		T_CHECK(name, rc == cases[i].rc);
		if (rc == 0 && cases[i].rc == 0) {
			T_CHECK(name, v.action == cases[i].action &&
					      v.code == cases[i].code);
			T_STREQ(name, v.esc, cases[i].esc);
			T_STREQ(name, v.text, cases[i].text);
		}
	}
	{
		char buf[] = "action=accept\nfrom=postmaster@example.com\n"
			     "customer=acme\nuser=u@example.com\n";
		struct smtp_verdict v;
		T_CHECK("rewrite parsed",
			smtp_policy_parse(buf, strlen(buf), &v) == 0 && v.has_from);
		T_STREQ("rewrite from", v.from, "postmaster@example.com");
		T_STREQ("customer", v.customer, "acme");
		T_STREQ("user", v.user, "u@example.com");
		smtp_policy_defaults(&v, 250, "2.1.0", "Ok");
		T_CHECK("defaults filled", v.code == 250 && !strcmp(v.esc, "2.1.0"));
	}
	return t_done();
}
