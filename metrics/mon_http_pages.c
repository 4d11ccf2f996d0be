/* mon_http_pages.c: the page builders (MON_HTTP_PAGES: a status page
 * or /metrics built from a snapshot of a few MB) shared between client
 * addresses.  Snapshots read the usage counts in turn (mon_data.c: one
 * Redis client, one counters map), so a request waits behind every one
 * that holds or waits for a builder: one address pipelining page
 * requests on each of its connections (MON_HTTP_CONN_PER_IP) used to
 * put a scrape from elsewhere behind all of them.  Here an address has
 * MON_HTTP_PAGES_PER_IP requests at most building or waiting for a
 * builder; its others wait for their turn, asleep, as its password
 * checks do (mon_http_auth.c).  They are not refused: a client told 429
 * asks again at once and keeps a CPU busy with that, one that waits
 * costs nothing, and a scrape is never refused because the browser or
 * another Prometheus behind its address asked at the same time.  So a
 * scrape from another address waits behind one request of each busy
 * address, and finds a builder free while fewer than
 * MON_HTTP_PAGES / MON_HTTP_PAGES_PER_IP addresses are busy.  An
 * address is mon_http_addr_key's: an IPv6 client's /64. */
#include "mon_http.h"

#include <pthread.h>
#include <semaphore.h>
#include <string.h>

#if MON_HTTP_PAGES_PER_IP >= MON_HTTP_PAGES
#error "one address would take every page builder"
#endif

struct mon_page_peer {
	unsigned char addr[16]; /* mon_http_addr_key */
	unsigned n;             /* its requests in _enter.._leave; 0: free */
	unsigned turns;         /* of those, building or waiting for a builder */
};

/* each request under way is one connection's: at most as many addresses */
static struct mon_page_peer peers[MON_HTTP_CONN_MAX];
static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_over = PTHREAD_COND_INITIALIZER;
static sem_t builders;

int mon_http_pages_init(void)
{
	memset(peers, 0, sizeof peers);
	return sem_init(&builders, 0, MON_HTTP_PAGES);
}

/* The address' entry, else a free one (NULL: none, which the table's
 * size rules out); under the lock. */
static struct mon_page_peer *peer_of(const unsigned char *k)
{
	struct mon_page_peer *free_one = NULL;

	for (size_t i = 0; i < MON_HTTP_CONN_MAX; i++) {
		if (peers[i].n && !memcmp(peers[i].addr, k, 16))
			return &peers[i];
		if (!free_one && !peers[i].n)
			free_one = &peers[i];
	}
	if (free_one) {
		memset(free_one, 0, sizeof *free_one);
		memcpy(free_one->addr, k, 16);
	}
	return free_one;
}

struct mon_page_peer *mon_http_page_enter(const struct sockaddr *sa)
{
	unsigned char k[16];
	struct mon_page_peer *p;

	mon_http_addr_key(sa, k);
	pthread_mutex_lock(&peers_lock);
	if ((p = peer_of(k))) {
		p->n++;
		/* woken with every waiter, of any address, at each turn's
		 * end: the waiters are one per connection at most */
		while (p->turns >= MON_HTTP_PAGES_PER_IP)
			pthread_cond_wait(&turn_over, &peers_lock);
		p->turns++;
	}
	pthread_mutex_unlock(&peers_lock);
	sem_wait(&builders);
	return p;
}

void mon_http_page_leave(struct mon_page_peer *p)
{
	sem_post(&builders);
	if (!p)
		return;
	pthread_mutex_lock(&peers_lock);
	p->turns--;
	p->n--;
	pthread_cond_broadcast(&turn_over);
	pthread_mutex_unlock(&peers_lock);
}
