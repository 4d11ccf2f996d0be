/* mon_http.h: relay-metrics' HTTP server (mon_http.c) and its
 * credentials (mon_creds.c). */
#ifndef MON_HTTP_H
#define MON_HTTP_H

#include <stddef.h>

#define MON_CREDS_MAX 16

/* Users allowed, from metrics_passwd: "user:hash" lines, the hash a
 * crypt(3) string of relayctl passwd. */
struct mon_creds {
	char user[MON_CREDS_MAX][64];
	char hash[MON_CREDS_MAX][256];
	size_t n;
};
/* Read path (as root, before the privilege drop); 0, or -1 with a
 * message in err. */
int mon_creds_load(const char *path, struct mon_creds *cr, char *err,
		   size_t errsz);

/* Limits on clients (man/relay-metrics.8, LIMITS): connections at once,
 * from one address, the seconds a request's headers may take (the TLS
 * handshake included), however slowly they trickle in, and the seconds
 * a connection may go with nothing moving (libmicrohttpd 0.9.75's
 * timeout: no byte received, and none of an answer taken by the
 * client, so one that never reads its answers is closed too).  Each
 * connection has a thread of its own (stack MON_HTTP_STACK); at most
 * MON_HTTP_PAGES of them build a status page or /metrics at once (a
 * snapshot is a few MB), and one a log search. */
#define MON_HTTP_CONN_MAX 256
#define MON_HTTP_CONN_PER_IP 8
#define MON_HTTP_HEADER_SECONDS 5
#define MON_HTTP_IDLE_SECONDS 10
#define MON_HTTP_STACK (1024 * 1024)
#define MON_HTTP_PAGES 4
/* Page requests (/, /metrics) from one client address building or
 * waiting for a builder at once; its others wait until one of these
 * ends (mon_http_pages.c): one address holds at most these of the
 * MON_HTTP_PAGES builders. */
#define MON_HTTP_PAGES_PER_IP 1

/* The password check (mon_http_auth.c): a right password is remembered
 * (keyed digest), the rest wait for the one hashing slot; an address
 * with a check under way or a failure in the last second is told to
 * come back later. */
enum mon_auth { MON_AUTH_OK, MON_AUTH_NO, MON_AUTH_LATER };
struct sockaddr;
/* Draw the digests' key; 0, or -1. */
int mon_auth_init(void);
enum mon_auth mon_auth_check(const struct mon_creds *cr, const char *user,
			     const char *pass, const struct sockaddr *peer);

/* A client's address as 16 bytes, the key of the per-address limits
 * (mon_http_auth.c, mon_http_pages.c): an IPv6 address cut to its /64,
 * an IPv4 address (or its IPv4-mapped IPv6 form) whole, in that form. */
void mon_http_addr_key(const struct sockaddr *sa, unsigned char out[16]);

/* The page builders (mon_http_pages.c).  _init before serving (0, or
 * -1); _enter waits for this address' turn and a builder for a request
 * from sa, and returns what to give to _leave once the page is built. */
struct mon_page_peer;
int mon_http_pages_init(void);
struct mon_page_peer *mon_http_page_enter(const struct sockaddr *sa);
void mon_http_page_leave(struct mon_page_peer *p);

/* Serve on the listening socket fd (TLS when cert is not NULL) from a
 * thread of libmicrohttpd's; NULL on failure. */
void *mon_http_start(int fd, const struct mon_creds *cr, const char *cert,
		     const char *key);
void mon_http_stop(void *d);

#endif
