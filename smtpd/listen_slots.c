/* listen_slots.c: the workers' shared cap table (see listen_slots.h).
 * A plain array under one lock, with its counts beside it; the lock is
 * only contended when two workers accept at the same moment. */
#include "listen_slots.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS_MAGIC 0x736c6f75u /* "slou": counted, version 2 */

/* The count of BUSY slots of one client net (an open-addressing hash
 * with linear probing; n == 0 is an empty bucket). */
struct slots_net {
	struct ipaddr net;
	uint32_t n;
};

/* The slots are the truth; open, idle, the free stack and the per-net
 * counts are kept in step with them under the lock (a claim costs the
 * same with 20,000 slots as with 20), and made again from the slots
 * when a holder died mid-update (slots_rebuild). */
struct listen_slots {
	unsigned magic;
	size_t cap, conn_max, per_ip;
	int prefix6;
	pthread_mutex_t mu;
	size_t open, idle;       /* slots BUSY, IDLE */
	size_t nfree;            /* entries of the free stack */
	size_t hcap;             /* buckets of the net hash, a power of 2 */
	struct listen_slot s[];  /* then cap free-stack indices, hcap buckets */
};

static size_t hash_buckets(size_t cap)
{
	size_t h = 16;

	while (h < 2 * cap)
		h *= 2;
	return h;
}

static uint32_t *free_stack(struct listen_slots *t)
{
	return (uint32_t *)(void *)(t->s + t->cap);
}

static struct slots_net *net_table(struct listen_slots *t)
{
	uintptr_t p = (uintptr_t)(free_stack(t) + t->cap);

	p = (p + _Alignof(struct slots_net) - 1) &
	    ~(uintptr_t)(_Alignof(struct slots_net) - 1);
	return (struct slots_net *)p;
}

static size_t slots_size(size_t cap)
{
	return sizeof(struct listen_slots) + cap * sizeof(struct listen_slot) +
	       cap * sizeof(uint32_t) + _Alignof(struct slots_net) +
	       hash_buckets(cap) * sizeof(struct slots_net);
}

static size_t net_bucket(const struct listen_slots *t, const struct ipaddr *ip)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */

	for (size_t i = 0; i < sizeof ip->a; i++)
		h = (h ^ ip->a[i]) * 1099511628211u;
	return (size_t)(h & (t->hcap - 1));
}

/* The bucket of ip, or the empty one where it would go. */
static struct slots_net *net_find(struct listen_slots *t, const struct ipaddr *ip)
{
	struct slots_net *h = net_table(t);
	size_t i = net_bucket(t, ip);

	while (h[i].n && memcmp(h[i].net.a, ip->a, sizeof ip->a))
		i = (i + 1) & (t->hcap - 1);
	return &h[i];
}

static void net_add(struct listen_slots *t, const struct ipaddr *ip)
{
	struct slots_net *b = net_find(t, ip);

	if (!b->n)
		b->net = *ip;
	b->n++;
}

/* Linear probing's deletion: the buckets after an emptied one move
 * back when their home is not between, so no lookup stops short. */
static void net_remove(struct listen_slots *t, const struct ipaddr *ip)
{
	struct slots_net *h = net_table(t), *b = net_find(t, ip);
	size_t mask = t->hcap - 1, i = (size_t)(b - h), j = i;

	if (!b->n || --b->n)
		return;
	for (;;) {
		j = (j + 1) & mask;
		if (!h[j].n)
			break;
		size_t home = net_bucket(t, &h[j].net);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			h[i] = h[j];
			h[j].n = 0;
			i = j;
		}
	}
	h[i].n = 0;
}

/* Slot j goes to state (BUSY with net): the counts follow.  A slot
 * leaving FREE was popped off the free stack by the caller. */
static void slot_set(struct listen_slots *t, size_t j, int state,
		     const struct ipaddr *net)
{
	struct listen_slot *s = &t->s[j];

	if (s->state == SLOT_BUSY) {
		t->open--;
		net_remove(t, &s->ip);
	} else if (s->state == SLOT_IDLE)
		t->idle--;
	if (state == SLOT_FREE) {
		memset(s, 0, sizeof *s);
		free_stack(t)[t->nfree++] = (uint32_t)j;
		return;
	}
	s->state = state;
	if (state == SLOT_BUSY) {
		s->ip = *net;
		t->open++;
		net_add(t, net);
	} else {
		memset(&s->ip, 0, sizeof s->ip);
		if (state == SLOT_IDLE)
			t->idle++;
	}
}

/* A free slot (reset), or -1 when the table is full. */
static long slot_pop(struct listen_slots *t)
{
	uint32_t j;

	if (!t->nfree)
		return -1;
	j = free_stack(t)[--t->nfree];
	memset(&t->s[j], 0, sizeof t->s[j]);
	return (long)j;
}

/* The counts made again from the slots; the free stack hands out the
 * lowest index first. */
static void slots_rebuild(struct listen_slots *t)
{
	memset(net_table(t), 0, t->hcap * sizeof(struct slots_net));
	t->open = t->idle = t->nfree = 0;
	for (size_t k = t->cap; k-- > 0;) {
		struct listen_slot *s = &t->s[k];
		if (s->state == SLOT_BUSY) {
			t->open++;
			net_add(t, &s->ip);
		} else if (s->state == SLOT_IDLE)
			t->idle++;
		else if (s->state != SLOT_DRAINING && s->state != SLOT_FULL) {
			memset(s, 0, sizeof *s);
			free_stack(t)[t->nfree++] = (uint32_t)k;
		}
	}
}

static int mutex_init_shared(pthread_mutex_t *mu)
{
	pthread_mutexattr_t a;
	int rc;

	if (pthread_mutexattr_init(&a))
		return -1;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ||
	     pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) ||
	     pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
	return rc ? -1 : 0;
}

/* A holder that died may have left a count out of step with the slots
 * (or a slot half written: every reader copes with any state value):
 * the counts are made again. */
static void slots_lock(struct listen_slots *t)
{
	if (pthread_mutex_lock(&t->mu) == EOWNERDEAD) {
		slots_rebuild(t);
		pthread_mutex_consistent(&t->mu);
	}
}

static void slots_unlock(struct listen_slots *t)
{
	pthread_mutex_unlock(&t->mu);
}

struct listen_slots *listen_slots_create(size_t cap, size_t conn_max,
					 size_t per_ip, int prefix6, int *fd)
{
	struct listen_slots *t;
	size_t size = slots_size(cap);

	if (cap == 0 || cap > UINT32_MAX)
		return NULL;
	*fd = memfd_create("relay-listen-slots", MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	if (ftruncate(*fd, (off_t)size) < 0 ||
	    (t = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd,
		      0)) == MAP_FAILED) {
		close(*fd);
		return NULL;
	}
	t->cap = cap;
	t->hcap = hash_buckets(cap);
	t->conn_max = conn_max;
	t->per_ip = per_ip;
	t->prefix6 = prefix6;
	if (mutex_init_shared(&t->mu) < 0) {
		munmap(t, size);
		close(*fd);
		return NULL;
	}
	slots_rebuild(t); /* every slot FREE */
	t->magic = SLOTS_MAGIC;
	return t;
}

struct listen_slots *listen_slots_attach(int fd)
{
	struct listen_slots *t;
	struct stat st;

	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof *t)
		return NULL;
	t = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	if (t == MAP_FAILED)
		return NULL;
	if (t->magic != SLOTS_MAGIC || t->cap == 0 || t->cap > UINT32_MAX ||
	    t->hcap != hash_buckets(t->cap) ||
	    slots_size(t->cap) > (size_t)st.st_size) {
		munmap(t, (size_t)st.st_size);
		return NULL;
	}
	return t;
}

size_t listen_slots_cap(const struct listen_slots *t)
{
	return t->cap;
}

long listen_slots_take(struct listen_slots *t, time_t now)
{
	long got;

	slots_lock(t);
	if ((got = slot_pop(t)) >= 0) {
		slot_set(t, (size_t)got, SLOT_IDLE, NULL);
		t->s[got].idle_since = now;
	}
	slots_unlock(t);
	return got;
}

void listen_slots_free(struct listen_slots *t, size_t i)
{
	if (i >= t->cap)
		return;
	slots_lock(t);
	if (t->s[i].state != SLOT_FREE)
		slot_set(t, i, SLOT_FREE, NULL);
	for (size_t j = 0; j < t->cap; j++) /* its sessions' slots */
		if (t->s[j].owner == i + 1 && t->s[j].state != SLOT_FREE)
			slot_set(t, j, SLOT_FREE, NULL);
	slots_unlock(t);
}

struct listen_slot listen_slots_get(struct listen_slots *t, size_t i)
{
	struct listen_slot s = { 0 };

	if (i < t->cap) {
		slots_lock(t);
		s = t->s[i];
		slots_unlock(t);
	}
	return s;
}

/* Under the lock: the caps' verdict on one more session from net, with
 * what the table holds in seen (before it). */
static enum listen_caps_verdict slots_verdict(struct listen_slots *t,
					      const struct ipaddr *net,
					      struct listen_slots_seen *seen)
{
	seen->open = t->open;
	seen->idle = t->idle;
	seen->from_ip = net_find(t, net)->n;
	if (seen->open >= t->conn_max)
		return LISTEN_CAPS_GLOBAL;
	if (seen->from_ip >= t->per_ip)
		return LISTEN_CAPS_PER_IP;
	return LISTEN_CAPS_OK;
}

enum listen_caps_verdict listen_slots_claim(struct listen_slots *t, size_t i,
					    const struct ipaddr *ip,
					    struct listen_slots_seen *seen)
{
	enum listen_caps_verdict v;
	struct ipaddr net;

	memset(seen, 0, sizeof *seen);
	if (i >= t->cap)
		return LISTEN_CAPS_GLOBAL;
	ipaddr_client_net(ip, t->prefix6, &net);
	slots_lock(t);
	v = slots_verdict(t, &net, seen);
	if (v == LISTEN_CAPS_OK) {
		if (t->s[i].state == SLOT_IDLE)
			seen->idle--;
		slot_set(t, i, SLOT_BUSY, &net);
		t->s[i].uses++;
		seen->open++;
		seen->from_ip++;
	}
	slots_unlock(t);
	return v;
}

void listen_slots_release(struct listen_slots *t, size_t i, time_t now)
{
	if (i >= t->cap)
		return;
	slots_lock(t);
	if (t->s[i].state == SLOT_BUSY) {
		slot_set(t, i, SLOT_IDLE, NULL);
		t->s[i].idle_since = now;
	}
	slots_unlock(t);
}

long listen_slots_claim_session(struct listen_slots *t, size_t i,
				const struct ipaddr *ip,
				struct listen_slots_seen *seen,
				enum listen_caps_verdict *v)
{
	struct ipaddr net;
	long got = -1;

	*v = LISTEN_CAPS_GLOBAL;
	memset(seen, 0, sizeof *seen);
	if (i >= t->cap)
		return -1;
	ipaddr_client_net(ip, t->prefix6, &net);
	slots_lock(t);
	*v = slots_verdict(t, &net, seen);
	if (*v == LISTEN_CAPS_OK && (got = slot_pop(t)) < 0)
		*v = LISTEN_CAPS_GLOBAL; /* the table is full */
	if (got >= 0) {
		slot_set(t, (size_t)got, SLOT_BUSY, &net);
		t->s[got].owner = i + 1;
		t->s[got].uses = 1;
		t->s[i].uses++; /* the worker has served: not dead at start */
		seen->open++;
		seen->from_ip++;
	}
	slots_unlock(t);
	return got;
}

void listen_slots_release_session(struct listen_slots *t, size_t j)
{
	if (j >= t->cap)
		return;
	slots_lock(t);
	if (t->s[j].owner && t->s[j].state != SLOT_FREE)
		slot_set(t, j, SLOT_FREE, NULL);
	slots_unlock(t);
}

void listen_slots_drain(struct listen_slots *t, size_t i)
{
	if (i >= t->cap)
		return;
	slots_lock(t);
	if (t->s[i].state == SLOT_IDLE || t->s[i].state == SLOT_FULL)
		slot_set(t, i, SLOT_DRAINING, NULL);
	slots_unlock(t);
}

void listen_slots_full(struct listen_slots *t, size_t i, int full, time_t now)
{
	if (i >= t->cap)
		return;
	slots_lock(t);
	if (full && t->s[i].state == SLOT_IDLE)
		slot_set(t, i, SLOT_FULL, NULL);
	else if (!full && t->s[i].state == SLOT_FULL) {
		slot_set(t, i, SLOT_IDLE, NULL);
		t->s[i].idle_since = now;
	}
	slots_unlock(t);
}
