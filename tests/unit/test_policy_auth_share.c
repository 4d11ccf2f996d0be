// links: policy/policy_auth.c policy/policy_authcache.c policy/policy_db.c
/* test_policy_auth_share.c: overlapping checks of the same credentials
 * share one crypt child (policy_auth.c): the later ones wait (pid -1)
 * and get the same answer; other passwords get children of their own; a
 * waiter takes the child over when the first session goes away; a child
 * that dies leaves every waiter with -1 (a 454, never a 235). */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "test_policy_auth.h"
#include "settings.h"
#include "t.h"


static int start(struct policy_auth *a, const char *ip, const char *pass,
		 long now)
{
	memset(a, 0, sizeof *a);
	a->fd = -1;
	return policy_auth_start(a, &fake_lk, ip, "mailer@example.com", pass, now);
}

/* 1 when a's fd becomes readable within ms */
static int ready(const struct policy_auth *a, int ms)
{
	struct pollfd p = { .fd = a->fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

static int finish(struct policy_auth *a, long now)
{
	if (!ready(a, 20000))
		return -9;
	return policy_auth_finish(a, now);
}

static void shared_success(void)
{
	struct policy_auth a, b, c, d, e;

	start(&a, "192.0.2.1", "secret1", 1000);
	start(&b, "192.0.2.2", "secret1", 1000);
	start(&c, "192.0.2.3", "secret1", 1000);
	start(&d, "192.0.2.4", "other-password", 1000);
	T_CHECK("the first runs crypt", a.pid > 0);
	T_CHECK("the same credentials wait for it", b.pid == -1 && c.pid == -1);
	T_CHECK("another password gets its own child", d.pid > 0 && d.pid != a.pid);
	T_CHECK("waiters have no answer before the first",
		!ready(&b, 0) && !ready(&c, 0));
	T_CHECK("first: good", finish(&a, 1000) == 1);
	T_CHECK("waiters: the same answer", finish(&b, 1000) == 1 &&
		finish(&c, 1000) == 1);
	T_CHECK("the other password: bad", finish(&d, 1000) == 0);
	T_CHECK("then a cache hit, answered at once",
		start(&e, "192.0.2.5", "secret1", 1001) == AUTH_OK &&
		auth_idle(&e));
}

static void shared_failure(void)
{
	struct policy_auth a, b;

	start(&a, "198.51.100.1", "wrong", 2000);
	start(&b, "198.51.100.2", "wrong", 2000);
	T_CHECK("a wrong password is shared too", a.pid > 0 && b.pid == -1);
	T_CHECK("both refused", finish(&a, 2000) == 0 && finish(&b, 2000) == 0);
	T_CHECK("each attempt counts for its address",
		policy_auth_throttled("198.51.100.2", "mailer@example.com", 2000) == 0 &&
		(cf.auth_fail_max = 1,
		 policy_auth_throttled("198.51.100.2", "mailer@example.com", 2000) == 1));
	cf.auth_fail_max = 5;
}

static void lead_leaves(void)
{
	struct policy_auth a, b, c;
	int bfd;

	policy_authcache_wipe();
	start(&a, "203.0.113.1", "secret1", 3000);
	start(&b, "203.0.113.2", "secret1", 3000);
	start(&c, "203.0.113.3", "secret1", 3000);
	bfd = b.fd;
	policy_auth_cancel(&a);
	T_CHECK("a waiter takes the child over", b.pid > 0 && b.fd == bfd &&
		c.pid == -1 && a.pid == 0 && a.fd == -1);
	T_CHECK("it gets the answer", finish(&b, 3000) == 1);
	T_CHECK("so does the other waiter", finish(&c, 3000) == 1);
}

static void waiter_leaves(void)
{
	struct policy_auth a, b, c;

	policy_authcache_wipe();
	start(&a, "203.0.113.7", "secret1", 4000);
	start(&b, "203.0.113.8", "secret1", 4000);
	start(&c, "203.0.113.9", "secret1", 4000);
	policy_auth_cancel(&b);
	T_CHECK("a waiter that leaves", b.pid == 0 && b.fd == -1);
	T_CHECK("changes nothing for the others",
		finish(&a, 4000) == 1 && finish(&c, 4000) == 1);
}

static void child_dies(void)
{
	struct policy_auth a, b;

	policy_authcache_wipe();
	start(&a, "203.0.113.20", "secret1", 5000);
	start(&b, "203.0.113.21", "secret1", 5000);
	kill(a.pid, SIGKILL);
	T_CHECK("child died: no answer for the first", finish(&a, 5000) == -1);
	T_CHECK("nor for the waiter", finish(&b, 5000) == -1);
}

int main(void)
{
	cf.auth_fail_max = 5;
	cf.auth_fail_ip_max = 20;
	cf.auth_fail_user_max = 50;
	cf.auth_cache_size = 1024;
	cf.auth_cache_ttl = 300;
	shared_success();
	shared_failure();
	lead_leaves();
	waiter_leaves();
	child_dies();
	return t_done();
}
