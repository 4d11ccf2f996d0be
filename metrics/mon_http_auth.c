/* mon_http_auth.c: the password check of relay-metrics' requests, kept
 * from costing others their scrapes.  A check is a crypt(3) hash (tens
 * of ms of CPU, megabytes of memory for yescrypt), and anyone who can
 * connect can ask for one, so:
 * - a right password is remembered per user (an HMAC-SHA256 of it under
 *   a key drawn at start, never the password itself), and the same
 *   password again is taken without a hash: a scraper costs one hash per
 *   start of relay-metrics;
 * - every other check waits its turn for the one hashing slot (first
 *   come, first served): at most one hash runs at a time, whatever the
 *   number of clients, and a scrape is served beside it;
 * - a client address has at most one check at a time (another of its
 *   requests waits for it to end), and none in the second after a
 *   failed one (MON_AUTH_LATER, answered 429), so the queue is at most
 *   one check per address and one address cannot keep the slot busy
 *   (an address: mon_http_addr_key's, an IPv6 client's whole /64).
 * The process reads the credentials once, at start: the remembered
 * passwords last as long as it does. */
#include "mon_http.h"
#include "ipaddr.h"
#include "monotime.h"
#include "pwhash.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#define AUTH_DIGEST 32
#define AUTH_PAUSE_MS 1000 /* after a failure, per address */

static unsigned char key[32];
static unsigned char known[MON_CREDS_MAX][AUTH_DIGEST];
static int known_set[MON_CREDS_MAX];
static pthread_mutex_t known_lock = PTHREAD_MUTEX_INITIALIZER;

int mon_auth_init(void)
{
	memset(known_set, 0, sizeof known_set);
	return RAND_bytes(key, sizeof key) == 1 ? 0 : -1;
}

/* The keyed digest of user i's password; 0, or -1. */
static int digest(size_t i, const char *pass, unsigned char *out)
{
	unsigned char in[PWHASH_PASS_MAX + 8];
	size_t n = strlen(pass);
	unsigned len = 0;
	int ok;

	if (n > PWHASH_PASS_MAX)
		return -1;
	in[0] = (unsigned char)i; /* a password is remembered for one user */
	memcpy(in + 1, pass, n);
	ok = HMAC(EVP_sha256(), key, sizeof key, in, n + 1, out, &len) &&
	     len == AUTH_DIGEST;
	explicit_bzero(in, sizeof in);
	return ok ? 0 : -1;
}

static int remembered(size_t i, const unsigned char *d)
{
	int ok;

	pthread_mutex_lock(&known_lock);
	ok = known_set[i] && !CRYPTO_memcmp(known[i], d, AUTH_DIGEST);
	pthread_mutex_unlock(&known_lock);
	return ok;
}

static void remember(size_t i, const unsigned char *d)
{
	pthread_mutex_lock(&known_lock);
	memcpy(known[i], d, AUTH_DIGEST);
	known_set[i] = 1;
	pthread_mutex_unlock(&known_lock);
}

/* ---- the addresses with a check under way or a recent failure ---- */
struct auth_peer {
	unsigned char addr[16];
	int used, busy;
	long long failed_ms;     /* monotonic ms of the last failure, 0 */
};
/* an address is in it while it has a check under way or is in its
 * pause: at most one per connection, and as many that just closed */
static struct auth_peer peers[2 * MON_HTTP_CONN_MAX];
static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t peers_done = PTHREAD_COND_INITIALIZER;

void mon_http_addr_key(const struct sockaddr *sa, unsigned char out[16])
{
	struct ipaddr ip, net;

	memset(&ip, 0, sizeof ip);
	if (sa && sa->sa_family == AF_INET) {
		ip.a[10] = ip.a[11] = 0xff;
		memcpy(ip.a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		memcpy(ip.a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
	/* one IPv6 host may hold a whole /64 and take a new address of it
	 * for every request: its /64 is the client (an IPv4-mapped address
	 * stays whole, the IPv4 client it is) */
	ipaddr_client_net(&ip, 64, &net);
	memcpy(out, net.a, 16);
}

static int peer_idle(const struct auth_peer *p, long long now)
{
	return !p->used || (!p->busy && now - p->failed_ms >= AUTH_PAUSE_MS);
}

/* The address' entry, or a free one; NULL when the table is full. */
static struct auth_peer *peer_find(const unsigned char *k, long long now)
{
	struct auth_peer *free_one = NULL;

	for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++) {
		if (peers[i].used && !memcmp(peers[i].addr, k, 16))
			return &peers[i];
		if (!free_one && peer_idle(&peers[i], now))
			free_one = &peers[i];
	}
	if (free_one) {
		memset(free_one, 0, sizeof *free_one);
		memcpy(free_one->addr, k, 16);
	}
	return free_one;
}

/* Mark the address busy and return its entry, after the check it has
 * under way, if any, ended (a browser's requests in parallel: the first
 * one's password is then remembered); NULL when that one failed, or
 * another did less than AUTH_PAUSE_MS ago. */
static struct auth_peer *peer_take(const struct sockaddr *sa)
{
	unsigned char k[16];
	struct auth_peer *p;

	mon_http_addr_key(sa, k);
	pthread_mutex_lock(&peers_lock);
	/* each wait ends with a check of this address: at most one per
	 * connection it has (MON_HTTP_CONN_PER_IP) */
	while ((p = peer_find(k, monotime_ms())) && p->used && p->busy)
		pthread_cond_wait(&peers_done, &peers_lock);
	if (p && !peer_idle(p, monotime_ms()))
		p = NULL;
	if (p) {
		p->used = p->busy = 1;
		p->failed_ms = 0;
	}
	pthread_mutex_unlock(&peers_lock);
	return p;
}

static void peer_done(struct auth_peer *p, int ok)
{
	pthread_mutex_lock(&peers_lock);
	p->busy = 0;
	p->failed_ms = ok ? 0 : monotime_ms();
	p->used = !ok;
	pthread_cond_broadcast(&peers_done);
	pthread_mutex_unlock(&peers_lock);
}

/* ---- the one hashing slot, in the order of arrival ---- */
static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cond = PTHREAD_COND_INITIALIZER;
static unsigned long turn_next, turn_now;

static int verify_in_turn(const char *pass, const char *hash)
{
	unsigned long mine;
	int ok;

	pthread_mutex_lock(&turn_lock);
	mine = turn_next++;
	while (mine != turn_now)
		pthread_cond_wait(&turn_cond, &turn_lock);
	pthread_mutex_unlock(&turn_lock);
	ok = pwhash_verify(pass, hash);
	pthread_mutex_lock(&turn_lock);
	turn_now++;
	pthread_cond_broadcast(&turn_cond);
	pthread_mutex_unlock(&turn_lock);
	return ok;
}

enum mon_auth mon_auth_check(const struct mon_creds *cr, const char *user,
			     const char *pass, const struct sockaddr *peer)
{
	unsigned char d[AUTH_DIGEST];
	const char *hash = pwhash_unknown_user;
	struct auth_peer *p;
	size_t i;
	int ok, have_digest = 0;

	for (i = 0; i < cr->n; i++)
		if (!strcmp(user, cr->user[i])) {
			hash = cr->hash[i];
			have_digest = digest(i, pass, d) == 0;
			break;
		}
	if (have_digest && remembered(i, d)) {
		explicit_bzero(d, sizeof d);
		return MON_AUTH_OK;
	}
	if (!(p = peer_take(peer))) {
		explicit_bzero(d, sizeof d);
		return MON_AUTH_LATER;
	}
	if (have_digest && remembered(i, d)) /* the check waited for */
		ok = 1;
	else    /* an unknown name costs a hash too: no enumeration by time */
		ok = verify_in_turn(pass, hash) && hash != pwhash_unknown_user;
	if (ok && have_digest)
		remember(i, d);
	peer_done(p, ok);
	explicit_bzero(d, sizeof d);
	return ok ? MON_AUTH_OK : MON_AUTH_NO;
}
