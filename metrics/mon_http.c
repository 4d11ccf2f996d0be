/* mon_http.c: the HTTP side of relay-metrics, on libmicrohttpd (one
 * polling thread: requests are answered one after the other, each from
 * a fresh snapshot).  GET only; /metrics, / (the status page), /log (the
 * log search).  With credentials configured every request needs HTTP
 * basic authentication that matches one of them (a crypt(3) hash, as
 * AUTH passwords); a wrong or missing one is 401.  Without credentials
 * (loopback only, mon_main.c) any local uid can connect, so what names
 * people is not served: /log (envelopes, client addresses, AUTH users)
 * answers 403, and /metrics leaves out the busiest users' series.
 * Slow or idle clients are bounded (mon_http.h, mon_http_guard.c) so that
 * they cannot hold every connection slot. */
#include "mon_http.h"
#include "mon_http_guard.h"
#include "mon.h"
#include "pwhash.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mon_creds *creds;

#define NEEDS_CREDS "the log search shows envelopes, client addresses and " \
	"AUTH user names: it is served only with credentials; set " \
	"metrics_passwd (see relay-metrics(8), ACCESS)"

static int have_creds(void)
{
	return creds && creds->n;
}

/* 1 when the request carries a user and password that match.  One hash
 * check whether the user is known or not: names are not told apart by
 * the time a refusal takes. */
static int authorized(struct MHD_Connection *c)
{
	char *pass = NULL, *user;
	const char *hash = pwhash_unknown_user;
	int ok = 0;

	if (!have_creds())
		return 1;
	user = MHD_basic_auth_get_username_password(c, &pass);
	for (size_t i = 0; user && i < creds->n; i++)
		if (!strcmp(user, creds->user[i])) {
			hash = creds->hash[i];
			break;
		}
	if (user && pass)
		ok = pwhash_verify(pass, hash) && hash != pwhash_unknown_user;
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	return ok;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *type, struct mon_buf *b)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (b->failed) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		b->len = 0;
	}
	r = MHD_create_response_from_buffer(b->len, b->s ? b->s : "",
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; style-src 'unsafe-inline'");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status,
			      const char *text)
{
	struct mon_buf b = { 0 };
	enum MHD_Result rc;

	mon_printf(&b, "%s\n", text);
	if (status == MHD_HTTP_UNAUTHORIZED) {
		struct MHD_Response *r = MHD_create_response_from_buffer(
			b.len, b.s, MHD_RESPMEM_MUST_COPY);
		rc = r ? MHD_queue_basic_auth_fail_response(c, "relaybox", r)
		       : MHD_NO;
		if (r)
			MHD_destroy_response(r);
	} else {
		rc = reply(c, status, "text/plain; charset=utf-8", &b);
	}
	free(b.s);
	return rc;
}

static const char *arg(struct MHD_Connection *c, const char *key)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
						    key);
	return v && *v ? v : NULL;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct mon_buf b = { 0 };
	struct mon_snap sn;
	struct mon_log_query q;
	enum MHD_Result rc;
	int html = 1;

	(void)cls, (void)version, (void)upload;
	if (!*state) {  /* the headers came: answer at the next call */
		*state = c;
		mon_http_guard_headers_done(c);
		return MHD_YES;
	}
	/* a body is read and dropped (no path takes one): libmicrohttpd
	 * closes the connection, unanswered, when it is left unread */
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return refuse(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only");
	if (!authorized(c))
		return refuse(c, MHD_HTTP_UNAUTHORIZED, "credentials needed");
	if (!strcmp(url, "/log")) {
		if (!have_creds())
			return refuse(c, MHD_HTTP_FORBIDDEN, NEEDS_CREDS);
		q = (struct mon_log_query){ arg(c, "id"), arg(c, "from"),
			arg(c, "to"), arg(c, "ip"), arg(c, "since"),
			arg(c, "until") };
		mon_page_log(&b, &q);
	} else if (!strcmp(url, "/metrics") || !strcmp(url, "/")) {
		if (mon_snap_take(&sn) < 0) {
			b.failed = 1;
		} else {
			if (!have_creds())
				mon_snap_drop_users(&sn);
			if ((html = !strcmp(url, "/")))
				mon_page(&b, &sn);
			else
				mon_expo(&b, &sn);
		}
		mon_snap_free(&sn);
	} else {
		return refuse(c, MHD_HTTP_NOT_FOUND, "not found");
	}
	rc = reply(c, MHD_HTTP_OK, html ? "text/html; charset=utf-8" :
		   "text/plain; version=0.0.4; charset=utf-8", &b);
	free(b.s);
	return rc;
}

void *mon_http_start(int fd, const struct mon_creds *cr, const char *cert,
		     const char *key)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	void *d;

	creds = cr;
	if (mon_http_guard_start() < 0)
		return NULL;
	if (cert)
		flags |= MHD_USE_TLS;
	d = MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10u,
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
