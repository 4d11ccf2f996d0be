/* remote_auth.c: AUTH to an upstream smarthost.  Credentials live in
 * <cf.secrets_dir>/<name>: line 1 the user, line 2 the password.  The
 * worker reads the file at job time, after privileges were dropped, so
 * the file must be owned by the relay-remote user (cf.user_remote) and
 * have no group or other permission bits; anything else is refused (the
 * job is deferred and the reason logged).  AUTH is only sent inside TLS
 * whose certificate chain and name were verified (remote_session.c asks
 * for that whenever a route has auth=): a server without STARTTLS, or
 * with a certificate that does not verify, is deferred and never sees
 * the password, unless the route says auth_tls=unverified. */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "tls.h"

static int auth_line(char **p, char *dst, size_t dstsz)
{
	size_t n = strcspn(*p, "\r\n");

	if (n == 0 || n >= dstsz)
		return -1;
	memcpy(dst, *p, n);
	dst[n] = '\0';
	*p += n;
	if (**p == '\r')
		(*p)++;
	if (**p == '\n')
		(*p)++;
	return 0;
}

int remote_auth_load(const char *name, struct remote_cred *cr, char *err,
		     size_t errsz)
{
	char path[4096], buf[1024], *p = buf;
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s", cf.secrets_dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return snprintf(err, errsz, "credentials %s: %s", name,
				strerror(errno)), -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077)) {
		close(fd);
		return snprintf(err, errsz, "credentials %s: must be a regular "
				"file of ours with mode 0600", name), -1;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return snprintf(err, errsz, "credentials %s: read error", name), -1;
	buf[n] = '\0';
	if (auth_line(&p, cr->user, sizeof cr->user) < 0 ||
	    auth_line(&p, cr->pass, sizeof cr->pass) < 0)
		return snprintf(err, errsz, "credentials %s: want user and "
				"password lines", name), -1;
	return 0;
}

static void auth_b64(const char *in, size_t n, char *out, size_t outsz)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < outsz; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

static int auth_plain(struct remote_conn *c, const struct remote_cred *cr,
		      struct remote_reply *r)
{
	char raw[520], b64[720];
	size_t ul = strlen(cr->user), pl = strlen(cr->pass);

	raw[0] = '\0';
	memcpy(raw + 1, cr->user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, cr->pass, pl);
	auth_b64(raw, 2 + ul + pl, b64, sizeof b64);
	explicit_bzero(raw, sizeof raw);
	int rc = remote_session_cmd(c, r, "AUTH PLAIN %s", b64);
	explicit_bzero(b64, sizeof b64);
	return rc;
}

static int auth_login(struct remote_conn *c, const struct remote_cred *cr,
		      struct remote_reply *r)
{
	char b64[400];

	if (remote_session_cmd(c, r, "AUTH LOGIN") < 0 || r->code != 334)
		return -1;
	auth_b64(cr->user, strlen(cr->user), b64, sizeof b64);
	if (remote_session_cmd(c, r, "%s", b64) < 0 || r->code != 334)
		return -1;
	auth_b64(cr->pass, strlen(cr->pass), b64, sizeof b64);
	int rc = remote_session_cmd(c, r, "%s", b64);
	explicit_bzero(b64, sizeof b64);
	return rc;
}

int remote_auth_run(struct remote_conn *c, const struct remote_job *job,
		    struct remote_err *e)
{
	const char *name = job->auth;
	struct remote_cred cr;
	struct remote_reply r;
	char err[512], txt[REMOTE_TEXT_MAX];
	int rc;

	if (!tls_active(&c->io))
		return remote_err_set(e, 'T', 421, "4.7.0 refusing AUTH to "
				      "%s without TLS", c->host), -1;
	if (!c->tls_verified && !job->auth_unverified)
		return remote_err_set(e, 'T', 421, "4.7.5 refusing AUTH to %s: "
				      "its certificate was not verified (a "
				      "route may say auth_tls=unverified)",
				      c->host), -1;
	if (!(c->ext & (REMOTE_EXT_AUTH_PLAIN | REMOTE_EXT_AUTH_LOGIN)))
		return remote_err_set(e, 'T', 421, "4.7.0 %s offers no AUTH "
				      "PLAIN or LOGIN", c->host), -1;
	if (remote_auth_load(name, &cr, err, sizeof err) < 0) {
		log_warn("%s", err);
		return remote_err_set(e, 'T', 451, "4.3.5 %s", err), -1;
	}
	rc = (c->ext & REMOTE_EXT_AUTH_PLAIN) ? auth_plain(c, &cr, &r)
					      : auth_login(c, &cr, &r);
	explicit_bzero(&cr, sizeof cr);
	if (rc == 0 && r.code == 235)
		return 0;
	remote_reply_line(&r, txt, sizeof txt);
	remote_err_set(e, 'T', r.code >= 400 ? 451 : 421,
		       "4.7.0 AUTH to %s failed: %s", c->host, txt);
	return -1;
}
