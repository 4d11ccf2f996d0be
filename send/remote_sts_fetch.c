/* remote_sts_fetch.c: the HTTPS GET of an MTA-STS policy with libcurl
 * (RFC 8461 3.3): https://mta-sts.<domain>/.well-known/mta-sts.txt, no
 * redirects, HTTP 200 with text/plain, at most STS_POLICY_MAX bytes,
 * the certificate checked for mta-sts.<domain> against the system trust
 * store relay-remote loaded before it dropped privileges (never tls_ca:
 * that CA vouches for the operator's own upstreams, not for the web).  The name is resolved through lib/dns.c like every other
 * name relay-remote looks up (cf.resolver), and the whole fetch is
 * bounded by cf.mta_sts_timeout.  cf.mta_sts_port is 443 but for tests,
 * whose policy servers cannot all own port 443 of a loopback address.
 * The same client POSTs TLS-RPT reports to https: rua (RFC 8460 5.2),
 * the URL's own port, no redirects, bounded alike.
 *
 * The domain chose where these connections go, as it chose its MX hosts:
 * under remote_private_addresses = refuse (remote_private_refused) the
 * address curl is about to connect to is checked in its open-socket
 * callback, the one place every address passes whatever resolved it, and
 * a private one (lib/ipaddr.h, as for MX hosts) is not connected to.  No
 * proxy is used, whatever the environment says: the connection goes to
 * the address checked. */
#include "remote.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>

#include "ipaddr.h"
#include "listen_addr.h"
#include "log.h"
#include "settings.h"

/* What the open-socket callback let through and refused in one
 * transfer. */
struct fetch_guard {
	int refuse;                     /* remote_private_refused */
	int opened, refused;            /* sockets made, addresses refused */
	char first[INET6_ADDRSTRLEN];   /* the first refused, for the log */
};

struct sts_body {
	char *buf;
	size_t max, len;
};

static size_t sts_write(char *data, size_t sz, size_t nm, void *arg)
{
	struct sts_body *b = arg;
	size_t n = sz * nm;

	if (n > b->max - b->len)
		return 0; /* too big: the transfer stops */
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	return n;
}

/* The policy server is checked against our system trust store. */
static CURLcode sts_ssl_ctx(CURL *curl, void *sslctx, void *arg)
{
	SSL_CTX *ours = remote_session_ctx_public();
	X509_STORE *st = ours ? SSL_CTX_get_cert_store(ours) : NULL;

	(void)curl;
	(void)arg;
	if (!st || !X509_STORE_up_ref(st))
		return CURLE_SSL_CACERT_BADFILE;
	SSL_CTX_set_cert_store(sslctx, st);
	return CURLE_OK;
}

/* The address of sa as text; 1 when it is private (or not an IP
 * address at all), by the rule MX addresses are held to. */
static int fetch_addr_private(const struct curl_sockaddr *sa, char *text,
			      size_t n)
{
	struct sockaddr_storage ss;
	struct ipaddr ip;
	char port[8];
	size_t need = sa->family == AF_INET ? sizeof(struct sockaddr_in)
					    : sizeof(struct sockaddr_in6);

	if ((sa->family != AF_INET && sa->family != AF_INET6) ||
	    sa->addrlen < need) {
		snprintf(text, n, "an address of family %d", sa->family);
		return 1;
	}
	memset(&ss, 0, sizeof ss);
	memcpy(&ss, &sa->addr, need);
	text[0] = '\0';
	listen_addr_name(&ss, text, n, port, sizeof port);
	return ipaddr_parse(text, &ip) != 0 || ipaddr_is_private(&ip);
}

/* CURLOPT_OPENSOCKETFUNCTION: every connection curl makes passes here
 * with the address it is for; CURL_SOCKET_BAD refuses that address (curl
 * tries the next one). */
static curl_socket_t fetch_open(void *arg, curlsocktype purpose,
				struct curl_sockaddr *sa)
{
	struct fetch_guard *g = arg;
	char text[INET6_ADDRSTRLEN];

	(void)purpose;
	if (g->refuse && fetch_addr_private(sa, text, sizeof text)) {
		if (g->refused++ == 0)
			snprintf(g->first, sizeof g->first, "%s", text);
		return CURL_SOCKET_BAD;
	}
	g->opened++;
	return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

/* What was refused, for the log (through log_field, where '=' would
 * come out as %3D: hence "is refuse"). */
static void fetch_refused_text(char *out, size_t n, const char *host,
			       const char *addr)
{
	static const char tail[] = "a private address: not connected to "
				   "(remote_private_addresses is refuse)";

	if (strcmp(host, addr) == 0) /* an address in the URL */
		snprintf(out, n, "%s is %s", addr, tail);
	else
		snprintf(out, n, "%s is at %s, %s", host, addr, tail);
}

/* curl_easy_perform under the guard; on a failure why says what.  When
 * every address was refused, that is the reason; when curl also went
 * to another address, the refusal gets its own log line (what: its
 * start).  Either way a fetch logs its refusal once. */
static CURLcode fetch_perform(CURL *c, int refuse, const char *host,
			      const char *what, char *why, size_t n)
{
	struct fetch_guard g = { .refuse = refuse };
	char t[REMOTE_NAME_MAX + 160], l[3 * sizeof t];
	CURLcode rc;

	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, fetch_open);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &g);
	rc = curl_easy_perform(c);
	if (g.refused && !g.opened) { /* the caller logs why */
		fetch_refused_text(why, n, host, g.first);
		return rc == CURLE_OK ? CURLE_COULDNT_CONNECT : rc;
	}
	if (g.refused) {
		fetch_refused_text(t, sizeof t, host, g.first);
		log_warn("%s: %s", what, log_field(l, sizeof l, t, strlen(t)));
	}
	if (rc != CURLE_OK)
		snprintf(why, n, "%s", curl_easy_strerror(rc));
	return rc;
}

/* "<host>:<port>:<addr>,<addr>" for CURLOPT_RESOLVE: names resolved
 * through cf.resolver, as every other name relay-remote looks up. */
static int sts_resolve(const char *host, long port, char *out, size_t n,
		       char *why, size_t wn)
{
	struct remote_ip ip[REMOTE_ADDR_MAX];
	size_t k = 0, used;

	if (remote_dns_addrs(host, ip, REMOTE_ADDR_MAX, &k) != DNS_OK || !k) {
		snprintf(why, wn, "no address for %s", host);
		return -1;
	}
	used = (size_t)snprintf(out, n, "%s:%ld:", host, port);
	for (size_t i = 0; i < k && used + 80 < n; i++) {
		char a[64];
		remote_ip_format(&ip[i], a, sizeof a);
		used += (size_t)snprintf(out + used, n - used,
					 ip[i].family == AF_INET6 ? "%s[%s]" : "%s%s",
					 i ? "," : "", a);
	}
	return 0;
}

static void sts_opts(CURL *c, const char *url, struct curl_slist *res,
		     struct sts_body *b)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, res);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROXY, ""); /* not from the environment */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, cf.mta_sts_timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, cf.mta_sts_timeout);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, sts_ssl_ctx);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "relaybox");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sts_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
}

int remote_sts_fetch(const char *domain, int refuse_private, char *buf,
		     size_t max, size_t *len, char *why, size_t n)
{
	char host[REMOTE_NAME_MAX + 16], url[REMOTE_NAME_MAX + 80], rs[2048];
	char dom[3 * REMOTE_NAME_MAX], what[3 * REMOTE_NAME_MAX + 32];
	char err[256];
	struct sts_body b = { buf, max, 0 };
	struct curl_slist *res = NULL;
	char *ctype = NULL;
	long code = 0;
	CURLcode rc;
	CURL *c;

	why[0] = '\0';
	snprintf(host, sizeof host, "mta-sts.%s", domain);
	snprintf(url, sizeof url, "https://%s:%ld/.well-known/mta-sts.txt",
		 host, cf.mta_sts_port);
	if (sts_resolve(host, cf.mta_sts_port, rs, sizeof rs, why, n) < 0)
		return -1;
	if (!(c = curl_easy_init()) || !(res = curl_slist_append(NULL, rs))) {
		snprintf(why, n, "out of memory");
		curl_easy_cleanup(c);
		return -1;
	}
	sts_opts(c, url, res, &b);
	snprintf(what, sizeof what, "mta-sts: domain=%s",
		 log_field(dom, sizeof dom, domain, strlen(domain)));
	rc = fetch_perform(c, refuse_private, host, what, err, sizeof err);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	if (rc != CURLE_OK)
		snprintf(why, n, "%s: %s", url, err);
	else if (code != 200)
		snprintf(why, n, "%s: HTTP %ld", url, code);
	else if (!ctype || strncasecmp(ctype, "text/plain", 10) != 0)
		snprintf(why, n, "%s: not text/plain", url);
	curl_slist_free_all(res);
	curl_easy_cleanup(c);
	*len = b.len;
	return rc == CURLE_OK && code == 200 && why[0] == '\0' ? 0 : -1;
}

/* "https://host[:port]/path": host and port; -1 for anything else. */
static int post_url(const char *url, char *host, size_t n, long *port)
{
	const char *h = url + 8, *e;
	size_t len;

	if (strncasecmp(url, "https://", 8) != 0)
		return -1;
	len = strcspn(h, ":/?#");
	if (len == 0 || len >= n || strchr("@[", h[0]) || memchr(h, '@', strcspn(h, "/")))
		return -1;
	memcpy(host, h, len);
	host[len] = '\0';
	*port = 443;
	e = h + len;
	if (*e == ':') {
		char *end;
		*port = strtol(e + 1, &end, 10);
		if (end == e + 1 || *port < 1 || *port > 65535 || (*end && *end != '/'))
			return -1;
	}
	return 0;
}

int remote_https_post(const char *url, int refuse_private, const char *ctype,
		      const char *body, size_t len, long *code, char *why,
		      size_t n)
{
	char host[REMOTE_NAME_MAX], rs[2048], sink[256];
	struct sts_body b = { sink, sizeof sink, 0 };
	struct curl_slist *res = NULL, *hdr = NULL;
	long port = 443;
	CURLcode rc;
	CURL *c;

	why[0] = '\0';
	*code = 0;
	if (post_url(url, host, sizeof host, &port) < 0)
		return snprintf(why, n, "not an https URL"), -1;
	if (sts_resolve(host, port, rs, sizeof rs, why, n) < 0)
		return -1;
	snprintf(sink, sizeof sink, "Content-Type: %s", ctype);
	if (!(c = curl_easy_init()) || !(res = curl_slist_append(NULL, rs)) ||
	    !(hdr = curl_slist_append(NULL, sink))) {
		snprintf(why, n, "out of memory");
		curl_slist_free_all(res);
		curl_easy_cleanup(c);
		return -1;
	}
	sts_opts(c, url, res, &b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc = fetch_perform(c, refuse_private, host, "tls-rpt", why, n);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	if (rc == CURLE_WRITE_ERROR)
		why[0] = '\0'; /* the answer's body is not kept */
	curl_slist_free_all(res);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return why[0] == '\0' && *code >= 200 && *code < 300 ? 0 : -1;
}
