/* listen_slots.c: the workers' shared cap table (see listen_slots.h).
 * A plain array scanned under one lock: a few hundred entries cost less
 * than one system call, and the lock is only contended when two workers
 * accept at the same moment. */
#include "listen_slots.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS_MAGIC 0x736c6f74u /* "slot" */

struct listen_slots {
	unsigned magic;
	size_t cap, conn_max, per_ip;
	int prefix6;
	pthread_mutex_t mu;
	struct listen_slot s[];
};

static size_t slots_size(size_t cap)
{
	return sizeof(struct listen_slots) + cap * sizeof(struct listen_slot);
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

/* A holder that died left the table as it was between two stores of
 * one slot at worst: every reader copes with any state value. */
static void slots_lock(struct listen_slots *t)
{
	if (pthread_mutex_lock(&t->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&t->mu);
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
	t->conn_max = conn_max;
	t->per_ip = per_ip;
	t->prefix6 = prefix6;
	if (mutex_init_shared(&t->mu) < 0) {
		munmap(t, size);
		close(*fd);
		return NULL;
	}
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
	if (t->magic != SLOTS_MAGIC || slots_size(t->cap) > (size_t)st.st_size) {
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
	long got = -1;

	slots_lock(t);
	for (size_t i = 0; i < t->cap && got < 0; i++)
		if (t->s[i].state == SLOT_FREE) {
			memset(&t->s[i], 0, sizeof t->s[i]);
			t->s[i].state = SLOT_IDLE;
			t->s[i].idle_since = now;
			got = (long)i;
		}
	slots_unlock(t);
	return got;
}

void listen_slots_free(struct listen_slots *t, size_t i)
{
	if (i >= t->cap)
		return;
	slots_lock(t);
	memset(&t->s[i], 0, sizeof t->s[i]);
	for (size_t j = 0; j < t->cap; j++) /* its sessions' slots */
		if (t->s[j].owner == i + 1)
			memset(&t->s[j], 0, sizeof t->s[j]);
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

static void slots_count(const struct listen_slots *t, const struct ipaddr *ip,
			struct listen_slots_seen *seen)
{
	memset(seen, 0, sizeof *seen);
	for (size_t i = 0; i < t->cap; i++) {
		const struct listen_slot *s = &t->s[i];
		if (s->state == SLOT_IDLE)
			seen->idle++;
		else if (s->state == SLOT_BUSY) {
			seen->open++;
			if (memcmp(s->ip.a, ip->a, sizeof ip->a) == 0)
				seen->from_ip++;
		}
	}
}

enum listen_caps_verdict listen_slots_claim(struct listen_slots *t, size_t i,
					    const struct ipaddr *ip,
					    struct listen_slots_seen *seen)
{
	enum listen_caps_verdict v = LISTEN_CAPS_OK;
	struct ipaddr net;

	if (i >= t->cap)
		return LISTEN_CAPS_GLOBAL;
	ipaddr_client_net(ip, t->prefix6, &net);
	slots_lock(t);
	slots_count(t, &net, seen);
	if (seen->open >= t->conn_max)
		v = LISTEN_CAPS_GLOBAL;
	else if (seen->from_ip >= t->per_ip)
		v = LISTEN_CAPS_PER_IP;
	else {
		if (t->s[i].state == SLOT_IDLE)
			seen->idle--;
		t->s[i].state = SLOT_BUSY;
		t->s[i].ip = net;
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
		t->s[i].state = SLOT_IDLE;
		t->s[i].idle_since = now;
		memset(&t->s[i].ip, 0, sizeof t->s[i].ip);
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
	if (i >= t->cap)
		return -1;
	ipaddr_client_net(ip, t->prefix6, &net);
	slots_lock(t);
	slots_count(t, &net, seen);
	if (seen->open >= t->conn_max)
		*v = LISTEN_CAPS_GLOBAL;
	else if (seen->from_ip >= t->per_ip)
		*v = LISTEN_CAPS_PER_IP;
	else
		for (size_t j = 0; j < t->cap && got < 0; j++)
			if (t->s[j].state == SLOT_FREE) {
				memset(&t->s[j], 0, sizeof t->s[j]);
				t->s[j].state = SLOT_BUSY;
				t->s[j].ip = net;
				t->s[j].owner = i + 1;
				t->s[j].uses = 1;
				seen->open++;
				seen->from_ip++;
				*v = LISTEN_CAPS_OK;
				got = (long)j;
			}
	slots_unlock(t);
	return got;
}

void listen_slots_release_session(struct listen_slots *t, size_t j)
{
	if (j >= t->cap)
		return;
	slots_lock(t);
	if (t->s[j].owner)
		memset(&t->s[j], 0, sizeof t->s[j]);
	slots_unlock(t);
}

void listen_slots_drain(struct listen_slots *t, size_t i)
{
	if (i >= t->cap)
		return;
	slots_lock(t);
	if (t->s[i].state == SLOT_IDLE)
		t->s[i].state = SLOT_DRAINING;
	slots_unlock(t);
}
