/* policy_auth.c: forked password verification and failure throttling. */
#include "policy_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ipaddr.h"
#include "log.h"
#include "pwhash.h"
#include "rulekeys.h"
#include "settings.h"
#include "usock.h"

#define SLOTS 4096

static struct slot {
	char key[ADDR_MAX + 80]; /* kind:user address */
	long start;
	int count;
} slots[SLOTS];

/* The slot of key, probing PROBE slots from a hash keyed by a random
 * seed (so nobody can aim collisions).  When creating and all are taken,
 * an expired slot is reused, else the one with the fewest failures: a
 * throttled address is not evicted by a flood of new user names. */
#define PROBE 8
static long victim_score(const struct slot *s, long now)
{
	if (!*s->key)
		return -2;
	if (now - s->start >= POLICY_AUTH_WINDOW)
		return -1;
	return s->count;
}

static struct slot *slot_for(const char *kind, const char *name, int create,
			     long now)
{
	static uint32_t seed;
	char key[sizeof slots[0].key];
	size_t h, i;
	struct slot *victim = NULL;

	if (!seed)
		seed = arc4random() | 1;
	h = seed;
	snprintf(key, sizeof key, "%s:%s", kind, name);
	addr_lower(key);
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (i = 0; i < PROBE; i++) {
		struct slot *s = &slots[(h + i) % SLOTS];
		if (!strcmp(s->key, key))
			return s;
		if (!victim || victim_score(s, now) < victim_score(victim, now))
			victim = s;
	}
	if (!create)
		return NULL;
	snprintf(victim->key, sizeof victim->key, "%s", key);
	victim->count = 0;
	victim->start = now;
	return victim;
}

long policy_auth_fails(const char *kind, const char *name, long now)
{
	struct slot *s = slot_for(kind, name, 0, now);
	return s && now - s->start < POLICY_AUTH_WINDOW ? s->count : 0;
}

void policy_auth_failed(const char *kind, const char *name, long now)
{
	struct slot *s = slot_for(kind, name, 1, now);
	if (now - s->start >= POLICY_AUTH_WINDOW) {
		s->start = now;
		s->count = 0;
	}
	s->count++;
}

void policy_auth_client(const char *ip, char *out, size_t n)
{
	struct ipaddr a, net;
	char buf[64];

	if (ipaddr_parse(ip, &a) < 0) {
		snprintf(out, n, "%s", ip);
		return;
	}
	/* one IPv6 host usually holds a whole /64: count it as one client;
	 * an IPv4 address is one however it is written */
	ipaddr_client_net(&a, 64, &net);
	ipaddr_format(&net, buf, sizeof buf);
	if (ipaddr_is_v4(&net))
		snprintf(out, n, "%s", buf);
	else
		snprintf(out, n, "%s/64", buf);
}

/* The counter of user at client. */
static void pair_name(const char *user, const char *client, char *out,
		      size_t n)
{
	snprintf(out, n, "%s %s", user, client);
}

int policy_auth_throttled(const char *ip, const char *user, long now)
{
	char client[64], pair[ADDR_MAX + 72];
	long pair_fails;

	policy_auth_client(ip, client, sizeof client);
	pair_name(user, client, pair, sizeof pair);
	pair_fails = policy_auth_fails("pair", pair, now);
	if (policy_auth_fails("ip", client, now) >= cf.auth_fail_ip_max ||
	    pair_fails >= cf.auth_fail_max)
		return 1;
	/* a user guessed at from many addresses: those that already failed
	 * for it get no more tries; an address without failures still does,
	 * so the real user is never locked out from elsewhere */
	return pair_fails > 0 &&
	       policy_auth_fails("user", user, now) >= cf.auth_fail_user_max;
}

static void count_failure(const char *ip, const char *user, long now)
{
	char client[64], pair[ADDR_MAX + 72];

	policy_auth_client(ip, client, sizeof client);
	pair_name(user, client, pair, sizeof pair);
	policy_auth_failed("ip", client, now);
	policy_auth_failed("pair", pair, now);
	policy_auth_failed("user", user, now);
}

int policy_auth_authz_ok(const char *authz, const char *user)
{
	char z[ADDR_MAX + 1], u[ADDR_MAX + 1];

	if (!*authz)
		return 1;
	if (strlen(authz) > ADDR_MAX || strlen(user) > ADDR_MAX)
		return 0;
	snprintf(z, sizeof z, "%s", authz);
	snprintf(u, sizeof u, "%s", user);
	addr_lower(z);
	addr_lower(u);
	return strcmp(z, u) == 0;
}

void policy_auth_refuse(const char *ip, const char *user, long now)
{
	char u[ADDR_MAX + 1];

	snprintf(u, sizeof u, "%s", user);
	addr_lower(u);
	if (!policy_auth_throttled(ip, u, now))
		count_failure(ip, u, now);
}

static void lookup_hash(const struct policy_lookup *lk, const char *user,
			char *hash, size_t n)
{
	char key[RK_KEYMAX], val[RK_VALMAX];

	snprintf(hash, n, "%s", pwhash_unknown_user);
	if (strlen(user) > ADDR_MAX)
		return;
	snprintf(key, sizeof key, "user:%s", user);
	addr_lower(key);
	if (lk->get(lk->ctx, POLICY_USERS, key, val, sizeof val) >= 0 &&
	    rk_get(val, "hash", hash, n) != 1)
		snprintf(hash, n, "%s", pwhash_unknown_user);
}

/* A cache hit: answered now, with no child, pipe or fd for the caller to
 * wait on (pid stays 0); the MAC is not needed any more. */
static enum policy_auth_start answer_cached(struct policy_auth *a)
{
	a->cache = 0;
	explicit_bzero(a->mac, sizeof a->mac);
	return AUTH_OK;
}

/* Checks running in a child whose answer others may share (cache on,
 * user known, so a->mac names the credentials), linked through next. */
static struct policy_auth *running;

static void unlink_from(struct policy_auth **head, struct policy_auth *a)
{
	for (; *head; head = &(*head)->next)
		if (*head == a) {
			*head = a->next;
			break;
		}
	a->next = NULL;
}

static struct policy_auth *running_find(const struct policy_auth *a)
{
	for (struct policy_auth *r = running; r; r = r->next)
		if (!strcmp(r->user, a->user) &&
		    CRYPTO_memcmp(r->mac, a->mac, AUTHCACHE_MAC) == 0)
			return r;
	return NULL;
}

/* The same credentials are being checked now: wait for that answer on
 * a pipe of our own (policy_auth_finish of the lead writes it). */
static enum policy_auth_start join(struct policy_auth *a,
				   struct policy_auth *lead)
{
	struct policy_auth **w;
	int p[2];

	a->cache = 0; /* the lead adds the success to the cache */
	if (pipe2(p, O_CLOEXEC) < 0)
		return AUTH_ERROR;
	fd_nonblock(p[0]);
	a->fd = p[0];
	a->wfd = p[1];
	a->pid = -1;
	a->lead = lead;
	a->next = NULL;
	for (w = &lead->waiters; *w; w = &(*w)->next) /* first come first */
		;
	*w = a;
	return AUTH_STARTED;
}

/* Pass the lead's answer on (n != 1: the child died, and every waiter
 * then reads EOF, like the lead). */
static void answer_waiters(struct policy_auth *a, ssize_t n, char r)
{
	struct policy_auth *w;

	while ((w = a->waiters)) {
		a->waiters = w->next;
		/* one byte into an empty pipe: cannot block or fail short */
		if (n == 1 && write(w->wfd, &r, 1) != 1)
			log_warn("auth: passing a shared answer on: %s",
				 strerror(errno));
		close(w->wfd);
		w->lead = NULL;
		w->next = NULL;
	}
}

enum policy_auth_start policy_auth_start(struct policy_auth *a,
					 const struct policy_lookup *lk,
					 const char *ip, const char *user,
					 const char *pass, long now)
{
	char hash[PWHASH_MAX];
	struct policy_auth *lead;
	int p[2], known;

	snprintf(a->user, sizeof a->user, "%s", user);
	addr_lower(a->user);
	snprintf(a->ip, sizeof a->ip, "%s", ip);
	if (policy_auth_throttled(ip, a->user, now))
		return AUTH_THROTTLED;
	lookup_hash(lk, a->user, hash, sizeof hash);
	known = strcmp(hash, pwhash_unknown_user) != 0;
	/* after the throttle, and only for a user with a stored hash */
	a->cache = known &&
		   policy_authcache_mac(a->user, pass, hash, a->mac) == 0;
	if (a->cache && policy_authcache_hit(a->user, a->mac, now))
		return answer_cached(a);
	if (a->cache && (lead = running_find(a)))
		return join(a, lead);
	if (pipe2(p, O_CLOEXEC) < 0)
		return AUTH_ERROR;
	a->pid = fork();
	if (a->pid < 0) {
		close(p[0]);
		close(p[1]);
		a->pid = 0;
		return AUTH_ERROR;
	}
	if (a->pid == 0) {
		int ok = pwhash_verify(pass, hash); /* always pay the cost */
		char r = known && ok ? '1' : '0';
		_exit(write(p[1], &r, 1) == 1 ? 0 : 1);
	}
	close(p[1]);
	a->fd = p[0];
	fd_nonblock(a->fd);
	if (a->cache) {
		a->next = running;
		running = a;
	}
	return AUTH_STARTED;
}

static void reap(struct policy_auth *a)
{
	if (a->lead) { /* a waiter leaving before the answer */
		unlink_from(&a->lead->waiters, a);
		close(a->wfd);
		a->lead = NULL;
	}
	unlink_from(&running, a);
	answer_waiters(a, 0, 0); /* none left in normal use */
	if (a->pid > 0)
		while (waitpid(a->pid, NULL, 0) < 0 && errno == EINTR)
			;
	if (a->fd >= 0)
		close(a->fd);
	a->pid = 0;
	a->fd = -1;
	a->cache = 0;
	explicit_bzero(a->mac, sizeof a->mac);
}

int policy_auth_finish(struct policy_auth *a, long now)
{
	char r = 0;
	ssize_t n = read(a->fd, &r, 1);

	if (n == 1 && r == '1' && a->cache)
		policy_authcache_add(a->user, a->mac, now);
	answer_waiters(a, n, r);
	reap(a);
	if (n != 1)
		return -1;
	if (r == '1')
		return 1;
	count_failure(a->ip, a->user, now);
	return 0;
}

/* The lead's session went away while others wait for its child: the
 * first waiter takes the child over (its fd now reads the child's pipe,
 * the same number, so the server's poll set stays right). */
static int hand_over(struct policy_auth *a)
{
	struct policy_auth *w = a->waiters;

	if (dup3(a->fd, w->fd, O_CLOEXEC) < 0)
		return -1;
	unlink_from(&running, a);
	a->waiters = w->next;
	close(w->wfd);
	w->lead = NULL;
	w->pid = a->pid;
	w->cache = 1; /* same mac: its success goes into the cache */
	w->waiters = a->waiters;
	for (struct policy_auth *x = w->waiters; x; x = x->next)
		x->lead = w;
	w->next = running;
	running = w;
	a->waiters = NULL;
	a->pid = 0; /* the child is w's now: reap neither waits nor kills */
	return 0;
}

void policy_auth_cancel(struct policy_auth *a)
{
	if (a->pid > 0 && !(a->waiters && hand_over(a) == 0))
		kill(a->pid, SIGKILL); /* nobody else needs its answer */
	reap(a);
}
