// links: smtpd/listen_slots.c
/* test_smtp_listen_slots.c: the pool workers' shared cap table: slots
 * taken until full and freed again; a claim is refused at conn_max and
 * at conn_per_ip, counts what it saw, and a release makes room; a second
 * mapping of the memfd (another process) sees and changes the same
 * table; attach refuses what is not a table. */
#include "t.h"
#include "../../smtpd/listen_slots.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* 0.0.0.last (IPv4, held mapped): each its own client. */
static struct ipaddr ip_of(unsigned char last)
{
	struct ipaddr ip = { { 0 } };
	ip.a[10] = ip.a[11] = 0xff;
	ip.a[15] = last;
	return ip;
}

static void test_take(struct listen_slots *t)
{
	long got[4];

	for (int i = 0; i < 4; i++)
		got[i] = listen_slots_take(t, 100);
	T_CHECK("take: four distinct slots",
		got[0] == 0 && got[1] == 1 && got[2] == 2 && got[3] == 3);
	T_CHECK("take: full", listen_slots_take(t, 100) == -1);
	listen_slots_free(t, 2);
	T_CHECK("free: that slot again", listen_slots_take(t, 100) == 2);
	T_CHECK("a taken slot is idle", listen_slots_get(t, 1).state == SLOT_IDLE);
}

static void test_claim(struct listen_slots *t)
{
	struct ipaddr a = ip_of(1), b = ip_of(2), c = ip_of(3);
	struct listen_slots_seen s;

	T_CHECK("claim: ok", listen_slots_claim(t, 0, &a, &s) == LISTEN_CAPS_OK);
	T_CHECK("claim: seen 1 open, 1 from ip, 3 idle",
		s.open == 1 && s.from_ip == 1 && s.idle == 3);
	T_CHECK("claim: busy", listen_slots_get(t, 0).state == SLOT_BUSY &&
		listen_slots_get(t, 0).uses == 1);
	T_CHECK("per ip 1: the same ip again refused",
		listen_slots_claim(t, 1, &a, &s) == LISTEN_CAPS_PER_IP &&
		listen_slots_get(t, 1).state == SLOT_IDLE);
	T_CHECK("another ip: ok", listen_slots_claim(t, 1, &b, &s) == LISTEN_CAPS_OK &&
		s.open == 2);
	T_CHECK("conn_max 2: a third refused",
		listen_slots_claim(t, 2, &c, &s) == LISTEN_CAPS_GLOBAL && s.open == 2);
	listen_slots_release(t, 0, 200);
	T_CHECK("release: idle since then", listen_slots_get(t, 0).state == SLOT_IDLE &&
		listen_slots_get(t, 0).idle_since == 200);
	T_CHECK("after a release: room", listen_slots_claim(t, 2, &c, &s) == LISTEN_CAPS_OK);
	T_CHECK("a slot out of range is refused",
		listen_slots_claim(t, 99, &c, &s) == LISTEN_CAPS_GLOBAL);
}

/* IPv6: one /64 is one client for conn_per_ip (here 1). */
static void test_claim_v6(void)
{
	struct ipaddr a, b, c;
	struct listen_slots_seen s;
	int fd;
	struct listen_slots *t = listen_slots_create(4, 4, 1, 64, &fd);

	ipaddr_parse("2001:db8:0:1::1", &a);
	ipaddr_parse("2001:db8:0:1:a:b:c:d", &b);
	ipaddr_parse("2001:db8:0:2::1", &c);
	if (!t) {
		T_CHECK("create for IPv6", 0);
		return;
	}
	for (int i = 0; i < 3; i++)
		listen_slots_take(t, 100);
	T_CHECK("v6: first of a /64 ok",
		listen_slots_claim(t, 0, &a, &s) == LISTEN_CAPS_OK);
	T_CHECK("v6: another address of that /64 refused (per ip)",
		listen_slots_claim(t, 1, &b, &s) == LISTEN_CAPS_PER_IP);
	T_CHECK("v6: another /64 ok",
		listen_slots_claim(t, 2, &c, &s) == LISTEN_CAPS_OK);
	close(fd);
}

static void test_shared(struct listen_slots *t, int fd)
{
	struct listen_slots *t2 = listen_slots_attach(fd);
	struct listen_slots_seen s;
	struct ipaddr d = ip_of(4);
	pid_t pid;
	int st = -1;

	T_CHECK("attach: the same table", t2 && listen_slots_cap(t2) == 4 &&
		listen_slots_get(t2, 2).state == SLOT_BUSY);
	listen_slots_release(t, 2, 300);
	pid = fork();
	if (pid == 0) {
		struct listen_slots *tc = listen_slots_attach(fd);
		_exit(tc && listen_slots_claim(tc, 3, &d, &s) == LISTEN_CAPS_OK ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	T_CHECK("another process claims: seen here",
		st == 0 && listen_slots_get(t, 3).state == SLOT_BUSY);
}

static void test_attach_bad(void)
{
	int p[2];

	T_CHECK("attach: a pipe is no table",
		pipe(p) == 0 && listen_slots_attach(p[0]) == NULL);
	close(p[0]);
	close(p[1]);
}

/* A worker serving many sessions: each takes a slot of its own, counted
 * by the caps; reaping the worker frees them; a drained worker is no
 * longer idle. */
static void test_sessions(void)
{
	int fd;
	struct listen_slots *t = listen_slots_create(8, 3, 2, 64, &fd);
	struct listen_slots_seen s;
	enum listen_caps_verdict v;
	struct ipaddr a = ip_of(1), b = ip_of(2), c = ip_of(3);
	long w = listen_slots_take(t, 0), j1, j2, j3;

	j1 = listen_slots_claim_session(t, (size_t)w, &a, &s, &v);
	j2 = listen_slots_claim_session(t, (size_t)w, &a, &s, &v);
	T_CHECK("sessions: two from a, each its slot",
		j1 >= 0 && j2 >= 0 && j1 != j2 && j1 != w && s.open == 2 &&
		s.from_ip == 2);
	T_CHECK("sessions: the worker stays idle", s.idle == 1);
	T_CHECK("sessions: a third from a is over conn_per_ip",
		listen_slots_claim_session(t, (size_t)w, &a, &s, &v) < 0 &&
		v == LISTEN_CAPS_PER_IP);
	j3 = listen_slots_claim_session(t, (size_t)w, &b, &s, &v);
	T_CHECK("sessions: one from b", j3 >= 0 && v == LISTEN_CAPS_OK);
	T_CHECK("sessions: conn_max counts them",
		listen_slots_claim_session(t, (size_t)w, &c, &s, &v) < 0 &&
		v == LISTEN_CAPS_GLOBAL);
	listen_slots_release_session(t, (size_t)j3);
	T_CHECK("sessions: a release makes room",
		(j3 = listen_slots_claim_session(t, (size_t)w, &c, &s, &v)) >= 0);
	/* relay-listen takes a worker reaped with no use for one that died
	 * at start (and pauses): one used up fast has served */
	T_CHECK("sessions: the worker's slot counts the sessions it started",
		listen_slots_get(t, (size_t)w).uses == 4);
	listen_slots_drain(t, (size_t)w);
	T_CHECK("sessions: a drained worker is not idle",
		listen_slots_get(t, (size_t)w).state == SLOT_DRAINING);
	listen_slots_free(t, (size_t)w); /* reaped */
	T_CHECK("sessions: reaping frees the worker's sessions",
		listen_slots_get(t, (size_t)j1).state == SLOT_FREE &&
		listen_slots_get(t, (size_t)j2).state == SLOT_FREE &&
		listen_slots_get(t, (size_t)j3).state == SLOT_FREE);
	close(fd);
}

/* A worker at its session cap is not idle, and idle again after. */
static void test_full(void)
{
	int fd;
	struct listen_slots *t = listen_slots_create(4, 4, 4, 64, &fd);
	long w = t ? listen_slots_take(t, 0) : -1;

	if (w < 0) {
		T_CHECK("full: create", 0);
		return;
	}
	listen_slots_full(t, (size_t)w, 1, 50);
	T_CHECK("full: not idle", listen_slots_get(t, (size_t)w).state == SLOT_FULL);
	listen_slots_full(t, (size_t)w, 0, 60);
	T_CHECK("full: room again, idle since then",
		listen_slots_get(t, (size_t)w).state == SLOT_IDLE &&
		listen_slots_get(t, (size_t)w).idle_since == 60);
	listen_slots_full(t, (size_t)w, 1, 70);
	listen_slots_drain(t, (size_t)w);
	listen_slots_full(t, (size_t)w, 0, 80);
	T_CHECK("full: a drained worker stays drained",
		listen_slots_get(t, (size_t)w).state == SLOT_DRAINING);
	close(fd);
}

/* Thousands of sessions from a few hundred nets, released in another
 * order: every claim's counts match a count made by hand, and the
 * caps hold at their edges. */
static void test_counts_many(void)
{
	enum { CAP = 3000, NETS = 300, PER = 8 };
	static long slot[CAP];
	static unsigned held[NETS];
	int fd, ok = 1;
	struct listen_slots *t = listen_slots_create(CAP + 1, CAP, PER, 64, &fd);
	struct listen_slots_seen s;
	enum listen_caps_verdict v;
	long w = t ? listen_slots_take(t, 0) : -1;
	size_t open = 0;

	if (w < 0) {
		T_CHECK("many: create", 0);
		return;
	}
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < CAP; i++) {
			unsigned n = (i * 7 + (unsigned)round) % NETS;
			struct ipaddr ip = ip_of(1);
			ip.a[13] = (unsigned char)(n >> 8);
			ip.a[14] = (unsigned char)n;
			slot[i] = listen_slots_claim_session(t, (size_t)w, &ip, &s, &v);
			if ((held[n] < PER) != (slot[i] >= 0) ||
			    (slot[i] >= 0 && (s.from_ip != held[n] + 1 ||
					      s.open != open + 1)))
				ok = 0;
			if (slot[i] >= 0) {
				held[n]++;
				open++;
			} else if (v != LISTEN_CAPS_PER_IP)
				ok = 0;
		}
		for (unsigned i = CAP; i-- > 0;)
			if (slot[i] >= 0) {
				listen_slots_release_session(t, (size_t)slot[i]);
				held[(i * 7 + (unsigned)round) % NETS]--;
				open--;
			}
	}
	T_CHECK("many: per-net counts exact through claims and releases", ok);
	T_CHECK("many: all released", open == 0 &&
		listen_slots_claim_session(t, (size_t)w, &(struct ipaddr){ { 0 } },
					   &s, &v) >= 0 && s.open == 1 &&
		s.from_ip == 1);
	close(fd);
}

int main(void)
{
	int fd;
	struct listen_slots *t = listen_slots_create(4, 2, 1, 64, &fd);

	T_CHECK("create", t != NULL && fd >= 0);
	if (!t)
		return t_done();
	test_take(t);
	test_claim(t);
	test_claim_v6();
	test_shared(t, fd);
	test_attach_bad();
	test_sessions();
	test_full();
	test_counts_many();
	return t_done();
}
