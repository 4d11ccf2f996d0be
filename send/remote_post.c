/* remote_post.c: TLS-RPT reports to https: rua (RFC 8460 5.2).  relay-
 * send has no network access of its own: it hands relay-remote, the
 * part that talks to the Internet, a post frame with the report
 * attached, and relay-remote POSTs it (remote_https_post) and answers
 * post=ok or post=failed with the reason. */
#include "remote.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "wire_remote.h"

/* The attached report, at most WIRE_REMOTE_POST_MAX bytes. */
static char *post_read(int fd, size_t *len)
{
	size_t cap = 65536;
	char *b = malloc(cap);
	ssize_t r;

	*len = 0;
	while (b && (r = read(fd, b + *len, cap - *len)) > 0) {
		*len += (size_t)r;
		if (*len == cap) {
			char *nb = cap < WIRE_REMOTE_POST_MAX ? realloc(b, cap * 2)
							      : NULL;
			if (!nb) {
				free(b);
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
	}
	return b;
}

int remote_post_frame(int fd, const struct kv_msg *m, int bodyfd)
{
	const char *url = kv_get(m, WIRE_REMOTE_POST);
	char why[256] = "no report attached", w[3 * sizeof why], u[1024];
	size_t len = 0;
	long code = 0;
	char *body = bodyfd >= 0 ? post_read(bodyfd, &len) : NULL;
	int ok = body && remote_https_post(url, remote_private_refused(NULL),
					   "application/tlsrpt+json", body,
					   len, &code, why, sizeof why) == 0;
	struct kv out;
	int rc;

	if (bodyfd >= 0)
		close(bodyfd);
	free(body);
	log_field(u, sizeof u, url, strlen(url));
	if (ok)
		log_info("tls-rpt: report posted to %s (HTTP %ld)", u, code);
	else
		log_warn("tls-rpt: post to %s failed: %s (HTTP %ld)", u,
			 log_field(w, sizeof w, why, strlen(why)), code);
	kv_init(&out);
	kv_add(&out, WIRE_REMOTE_POST, ok ? "ok" : "failed");
	kv_add(&out, WIRE_REMOTE_POST_TEXT, ok ? "" : why);
	rc = kv_send(&out, fd);
	kv_free(&out);
	return rc;
}
