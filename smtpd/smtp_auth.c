/* smtp_auth.c: AUTH PLAIN and LOGIN (RFC 4954, 4616), only inside TLS.
 * smtpd only decodes; relay-policy checks the password.  Passwords are
 * wiped from every buffer they passed through and never logged. */
#include "smtp_session.h"
#include "metrics.h"
#include "smtp_auth.h"
#include "log.h"
#include "settings.h"
#include "wire_policy.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTH_FIELD_MAX 256

/* What a mechanism hands to relay-policy; wiped after use. */
struct auth_creds {
	char authz[AUTH_FIELD_MAX]; /* PLAIN's authzid, "" when none */
	char user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX];
};

int smtp_auth_b64decode(const char *in, char *out, size_t outsz,
			size_t *outlen)
{
	size_t n = strlen(in), pad = 0;
	int got;

	if (strcmp(in, "=") == 0) { /* RFC 4954: an empty initial response */
		*outlen = 0;
		return 0;
	}
	if (n == 0 || n % 4 || n / 4 * 3 + 1 > outsz)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '=') {
			if (i < n - 2 || (i == n - 2 && in[n - 1] != '='))
				return -1;
			pad++;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			return -1;
		}
	}
	got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in,
			      (int)n);
	if (got < 0 || (size_t)got < pad)
		return -1;
	*outlen = (size_t)got - pad; /* EVP_DecodeBlock counts padding */
	out[*outlen] = '\0';
	return 0;
}

int smtp_auth_plain_split(const char *buf, size_t n, char *authz,
			  char *user, char *pass)
{
	const char *authc, *pw, *end = buf + n;
	size_t zl, cl, pl;

	authc = memchr(buf, '\0', n);
	if (!authc) /* NULL + 1 is undefined: test before stepping over */
		return -1;
	authc++;
	if (!(pw = memchr(authc, '\0', (size_t)(end - authc))))
		return -1;
	pw++;
	zl = (size_t)(authc - 1 - buf);
	cl = (size_t)(pw - 1 - authc);
	pl = (size_t)(end - pw);
	if (memchr(pw, '\0', pl) || cl == 0 || cl >= AUTH_FIELD_MAX ||
	    pl >= AUTH_FIELD_MAX || zl >= AUTH_FIELD_MAX)
		return -1;
	memcpy(authz, buf, zl);
	authz[zl] = '\0';
	memcpy(user, authc, cl);
	user[cl] = '\0';
	memcpy(pass, pw, pl);
	pass[pl] = '\0';
	return 0;
}

/* Send a 334 challenge and read the answer into s->line: 1 got it,
 * 0 cancelled or bad (already answered), -1 the session is over. */
static int auth_challenge(struct smtp_session *s, const char *b64)
{
	size_t len;
	int rc;

	smtp_reply(s, "334 %s", b64);
	s->auth_reading = 1;
	rc = smtp_session_getline(s, &len);
	s->auth_reading = 0;
	if (rc <= 0)
		return rc;
	if (strcmp(s->line, "*") == 0) {
		smtp_reply(s, "501 5.0.0 Authentication cancelled");
		smtp_session_error(s);
		return 0;
	}
	return 1;
}

/* Decode text (a response) into out, or reply 501 and return -1. */
static int auth_decode(struct smtp_session *s, const char *text, char *out,
		       size_t outsz, size_t *n)
{
	if (smtp_auth_b64decode(text, out, outsz, n) == 0)
		return 0;
	smtp_reply(s, "501 5.5.2 Invalid base64 data");
	smtp_session_error(s);
	return -1;
}

/* The PLAIN mechanism; fills cr, 0 on success. */
static int auth_plain(struct smtp_session *s, const char *initial,
		      struct auth_creds *cr)
{
	char buf[3 * AUTH_FIELD_MAX + 4];
	size_t n;
	int rc = -1;

	if (!*initial && auth_challenge(s, "") <= 0)
		return -1;
	if (auth_decode(s, *initial ? initial : s->line, buf, sizeof buf, &n) == 0) {
		rc = smtp_auth_plain_split(buf, n, cr->authz, cr->user,
					   cr->pass);
		if (rc < 0) {
			smtp_reply(s, "501 5.5.2 Malformed AUTH PLAIN response");
			smtp_session_error(s);
		}
	}
	explicit_bzero(buf, sizeof buf);
	return rc;
}

/* One LOGIN field, from the initial response or a challenge. */
static int login_field(struct smtp_session *s, const char *initial,
		       const char *prompt, char *out)
{
	char buf[AUTH_FIELD_MAX + 4];
	size_t n;
	int rc = -1;

	if (!*initial && auth_challenge(s, prompt) <= 0)
		return -1;
	if (auth_decode(s, *initial ? initial : s->line, buf, sizeof buf, &n) == 0) {
		if (n == 0 || n >= AUTH_FIELD_MAX || memchr(buf, '\0', n)) {
			smtp_reply(s, "501 5.5.2 Malformed AUTH LOGIN response");
			smtp_session_error(s);
		} else {
			memcpy(out, buf, n + 1);
			rc = 0;
		}
	}
	explicit_bzero(buf, sizeof buf);
	return rc;
}

static int auth_login(struct smtp_session *s, const char *initial,
		      struct auth_creds *cr)
{
	/* "Username:" and "Password:" in base64 */
	if (login_field(s, initial, "VXNlcm5hbWU6", cr->user) < 0)
		return -1;
	return login_field(s, "", "UGFzc3dvcmQ6", cr->pass);
}

/* relay-policy checks the password (and that an authzid is the user
 * itself: acting for someone else is not offered); 0 when accepted. */
static int auth_policy(struct smtp_session *s, const struct auth_creds *cr)
{
	const char *user = cr->user;
	struct smtp_verdict v;
	struct kv req;
	char clean[AUTH_FIELD_MAX];
	int rc;

	kv_init(&req);
	kv_add(&req, WIRE_POLICY_PHASE, WIRE_POLICY_PHASE_AUTH);
	kv_add(&req, WIRE_POLICY_USER, user);
	kv_add(&req, WIRE_POLICY_PASS, cr->pass);
	if (cr->authz[0])
		kv_add(&req, WIRE_POLICY_AUTHZ, cr->authz);
	rc = smtp_session_decide(s, &req, &v, 535, "5.7.8",
				 "Username and Password not accepted.");
	if (req.buf)
		explicit_bzero(req.buf, req.cap);
	kv_free(&req);
	log_field(clean, sizeof clean, user, strlen(user));
	if (rc < 0) {
		/* unlike other refusals by policy, a failed AUTH counts for
		 * errors_max: a session of guesses is cut off */
		smtp_session_error(s);
		log_info("%s: AUTH failed for %s", s->ip, clean);
		metrics_add(METRIC_SMTPD_AUTH, 1, "result=\"fail\"");
		return -1;
	}
	snprintf(s->auth_user, sizeof s->auth_user, "%s", v.user[0] ? v.user : user);
	s->authed = 1;
	log_info("%s: AUTH ok user=%s", s->ip, clean);
	metrics_add(METRIC_SMTPD_AUTH, 1, "result=\"ok\"");
	smtp_policy_defaults(&v, 235, "2.7.0", "Authentication successful");
	smtp_reply_verdict(s, &v);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct smtp_session *, const char *, struct auth_creds *);
} auth_mechs[] = {
	{ "PLAIN", auth_plain },
	{ "LOGIN", auth_login },
};

/* 0 when AUTH may be tried now, else the refusal was sent. */
static int auth_allowed(struct smtp_session *s)
{
	const char *why = NULL;

	if (!s->tls)
		why = "538 5.7.11 Encryption required for requested "
		      "authentication mechanism";
	else if (s->authed)
		why = "503 5.5.1 Error: already authenticated";
	else if (!s->helo_seen)
		why = "503 5.5.1 Error: send EHLO first";
	else if (s->in_mail)
		why = "503 5.5.1 Error: MAIL transaction in progress";
	if (!why)
		return 0;
	smtp_reply(s, "%s", why);
	smtp_session_error(s);
	return -1;
}

/* The frames AUTH's callees left below ours (decoding, the policy
 * request, libc and OpenSSL copies) are zeroed: in a worker serving
 * many sessions another session's code runs in the same memory.  Not
 * inlined, so its array lies where those frames were. */
static void __attribute__((noinline)) auth_burn_stack(void)
{
	char pad[8192];

	explicit_bzero(pad, sizeof pad);
	__asm__ volatile("" : : "r"(pad) : "memory");
}

void smtp_auth_cmd(struct smtp_session *s, char *arg)
{
	struct auth_creds cr = { "", "", "" };
	char *initial = arg + strcspn(arg, " ");
	size_t i;

	if (auth_allowed(s) < 0)
		return;
	if (!*arg) {
		smtp_reply(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		smtp_session_error(s);
		return;
	}
	if (*initial)
		*initial++ = '\0';
	for (i = 0; i < sizeof auth_mechs / sizeof auth_mechs[0]; i++)
		if (strcasecmp(arg, auth_mechs[i].name) == 0)
			break;
	if (i == sizeof auth_mechs / sizeof auth_mechs[0]) {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		smtp_session_error(s);
		return;
	}
	/* the initial response lives in s->line, which a 334 challenge
	 * overwrites: keep a copy */
	if (!(initial = strdup(initial))) {
		smtp_session_close421(s, "4.3.0", "Out of memory");
		return;
	}
	if (auth_mechs[i].fn(s, initial, &cr) == 0)
		auth_policy(s, &cr);
	explicit_bzero(&cr, sizeof cr);
	explicit_bzero(initial, strlen(initial));
	free(initial);
	/* the base64 of the password sat in the line and input buffers:
	 * in what was read and taken, and past the bytes pending too (a
	 * line that reached the buffer's end was read there in part, the
	 * rest at its start: that head stays beyond in_end) */
	explicit_bzero(s->line, (size_t)cf.line_max);
	explicit_bzero(s->io.in, s->io.in_start);
	explicit_bzero(s->io.in + s->io.in_end, sizeof s->io.in - s->io.in_end);
	auth_burn_stack();
}
