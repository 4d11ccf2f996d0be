/* mon_http.c: the HTTP side of relay-metrics, on libmicrohttpd, a thread
 * per connection (so that a slow request, a password check or a log
 * search, delays no other client's; each request is answered from a
 * fresh snapshot).  GET only; /metrics, / (the status page), /log (the
 * log search).  No request takes a body: one that announces one is
 * answered at once (405, or 413 for GET) and closed, its body never
 * read.  With credentials configured every request needs HTTP basic
 * authentication that matches one of them (a crypt(3) hash, as AUTH
 * passwords; mon_http_auth.c); a wrong or missing one is 401.  Without
 * credentials (loopback only, mon_main.c) any local uid can connect, so
 * what names people is not served: /log (envelopes, client addresses,
 * AUTH users) answers 403, and /metrics leaves out the busiest users'
 * series.  Slow or idle clients are bounded (mon_http.h,
 * mon_http_guard.c) so that they cannot hold every connection slot, and
 * one address' page requests so that they cannot hold every page
 * builder (mon_http_pages.c). */
#include "mon_http.h"
#include "mon_http_guard.h"
#include "logsearch.h"
#include "mon.h"
#include "pwhash.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mon_creds *creds;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER; /* a search */

#define NEEDS_CREDS "the log search shows envelopes, client addresses and " \
	"AUTH user names: it is served only with credentials; set " \
	"metrics_passwd (see relay-metrics(8), ACCESS)"

static int have_creds(void)
{
	return creds && creds->n;
}

/* Whether the request carries a user and password that match (always
 * OK without credentials configured); no password, no check. */
static enum mon_auth authorized(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	char *pass = NULL, *user;
	enum mon_auth a = MON_AUTH_NO;

	if (!have_creds())
		return MON_AUTH_OK;
	user = MHD_basic_auth_get_username_password(c, &pass);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (user && pass)
		a = mon_auth_check(creds, user, pass, ci ? ci->client_addr : NULL);
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return a;
}

/* A response of b's text (500 when b failed), with the headers every
 * answer carries; NULL when out of memory. */
static struct MHD_Response *response(unsigned *status, const char *type,
				     struct mon_buf *b)
{
	struct MHD_Response *r;

	if (b->failed) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		b->len = 0;
	}
	r = MHD_create_response_from_buffer(b->len, b->s ? b->s : "",
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return NULL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; style-src 'unsafe-inline'");
	return r;
}

/* The answer b, with one more header when name is not NULL. */
static enum MHD_Result reply_with(struct MHD_Connection *c, unsigned status,
				  const char *type, struct mon_buf *b,
				  const char *name, const char *value)
{
	struct MHD_Response *r = response(&status, type, b);
	enum MHD_Result rc;

	if (!r)
		return MHD_NO;
	if (name)
		MHD_add_response_header(r, name, value);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *type, struct mon_buf *b)
{
	return reply_with(c, status, type, b, NULL, NULL);
}

/* How a refusal ends: the connection goes on, is closed (a body we do
 * not read follows), or the client is to come back in a second. */
enum refusal { GO_ON, CLOSE, RETRY };

static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status,
			      const char *text, enum refusal how)
{
	struct mon_buf b = { 0 };
	struct MHD_Response *r;
	enum MHD_Result rc = MHD_NO;

	mon_printf(&b, "%s\n", text);
	r = response(&status, "text/plain; charset=utf-8", &b);
	if (r && how == CLOSE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (r && how == RETRY)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (r && status == MHD_HTTP_UNAUTHORIZED)
		rc = MHD_queue_basic_auth_fail_response(c, "relaybox", r);
	else if (r)
		rc = MHD_queue_response(c, status, r);
	if (r)
		MHD_destroy_response(r);
	free(b.s);
	return rc;
}

/* The request announces a body (a length other than 0, or chunks). */
static int has_body(struct MHD_Connection *c)
{
	const char *len = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (len && strspn(len, "0") != strlen(len)) ||
	       MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* At the first call, once the headers are in: refuse what we would
 * have to read a body for, before reading it. */
static enum MHD_Result headers_in(struct MHD_Connection *c,
				  const char *method, void **state)
{
	int body = has_body(c);

	*state = c;
	mon_http_guard_headers_done(c);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return refuse(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only",
			      body ? CLOSE : GO_ON);
	if (body)
		return refuse(c, MHD_HTTP_CONTENT_TOO_LARGE,
			      "no request takes a body", CLOSE);
	return MHD_YES; /* answered at the next call */
}

static const char *arg(struct MHD_Connection *c, const char *key)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
						    key);
	return v && *v ? v : NULL;
}

static enum MHD_Result log_page(struct MHD_Connection *c,
				struct mon_buf *b)
{
	struct mon_log_query q = { arg(c, "id"), arg(c, "from"), arg(c, "to"),
		arg(c, "ip"), arg(c, "since"), arg(c, "until") };
	int cut;

	if (!have_creds())
		return refuse(c, MHD_HTTP_FORBIDDEN, NEEDS_CREDS, GO_ON);
	/* one scan of the log at a time: searches cannot add up */
	if (pthread_mutex_trylock(&log_lock))
		return refuse(c, MHD_HTTP_SERVICE_UNAVAILABLE, "another log "
			      "search is under way", RETRY);
	cut = mon_page_log(b, &q);
	pthread_mutex_unlock(&log_lock);
	/* a script sees the page is incomplete without reading it */
	return reply_with(c, MHD_HTTP_OK, "text/html; charset=utf-8", b,
			  cut ? MON_LOG_CUT_HEADER : NULL,
			  cut == LOGSEARCH_CUT_BYTES ? "bytes" :
			  cut == LOGSEARCH_CUT_TIME ? "time" : "bytes, time");
}

static enum MHD_Result snapshot_page(struct MHD_Connection *c,
				     const char *url, struct mon_buf *b)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct mon_page_peer *peer;
	struct mon_snap sn;
	int html = !strcmp(url, "/");

	/* a builder, after this address' request under way, if any */
	peer = mon_http_page_enter(ci ? ci->client_addr : NULL);
	if (mon_snap_take(&sn) < 0) {
		b->failed = 1;
	} else {
		if (!have_creds())
			mon_snap_drop_users(&sn);
		if (html)
			mon_page(b, &sn);
		else
			mon_expo(b, &sn);
	}
	mon_snap_free(&sn);
	mon_http_page_leave(peer);
	return reply(c, MHD_HTTP_OK, html ? "text/html; charset=utf-8" :
		     "text/plain; version=0.0.4; charset=utf-8", b);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct mon_buf b = { 0 };
	enum MHD_Result rc;

	(void)cls, (void)version, (void)upload;
	if (!*state)
		return headers_in(c, method, state);
	if (*upload_size)       /* announced without a header: not read */
		return MHD_NO;
	switch (authorized(c)) {
	case MON_AUTH_OK:
		break;
	case MON_AUTH_LATER:
		return refuse(c, MHD_HTTP_TOO_MANY_REQUESTS, "a password check "
			      "from this address is under way or failed in "
			      "the last second", RETRY);
	default:
		return refuse(c, MHD_HTTP_UNAUTHORIZED, "credentials needed",
			      GO_ON);
	}
	if (!strcmp(url, "/log"))
		rc = log_page(c, &b);
	else if (!strcmp(url, "/metrics") || !strcmp(url, "/"))
		rc = snapshot_page(c, url, &b);
	else
		rc = refuse(c, MHD_HTTP_NOT_FOUND, "not found", GO_ON);
	free(b.s);
	return rc;
}

void *mon_http_start(int fd, const struct mon_creds *cr, const char *cert,
		     const char *key)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			 MHD_USE_THREAD_PER_CONNECTION;
	void *d;

	creds = cr;
	if (mon_auth_init() < 0 || mon_http_pages_init() < 0 ||
	    mon_http_guard_start() < 0)
		return NULL;
	if (cert)
		flags |= MHD_USE_TLS;
	d = MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned)MON_HTTP_IDLE_SECONDS,
			     MHD_OPTION_THREAD_STACK_SIZE, (size_t)MON_HTTP_STACK,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)MON_HTTP_CONN_MAX,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			     (unsigned)MON_HTTP_CONN_PER_IP,
			     MHD_OPTION_NOTIFY_CONNECTION, mon_http_guard_notify,
			     NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, mon_http_guard_completed,
			     NULL,
			     /* without a certificate the list ends here */
			     cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
			     MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
	if (!d)
		mon_http_guard_stop();
	return d;
}

void mon_http_stop(void *d)
{
	if (d)
		MHD_stop_daemon(d);
	mon_http_guard_stop();
}
