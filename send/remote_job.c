/* remote_job.c: the job frame relay-send sends to a relay-remote worker,
 * and the result frame that answers it (ARCHITECTURE.md, send ↔ remote). */
#include "remote.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "ns.h"
#include "settings.h"
#include "wire_remote.h"

/* The text of a recipient without a result (a bug: say so). */
#define RESULT_NONE "4.3.0 internal error: no result"

static int job_copy(char *dst, size_t dstsz, const char *v)
{
	size_t n = strlen(v);
	if (n >= dstsz)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

static const struct {
	const char *name;
	enum remote_tls tls;
} job_tls_names[] = {
	{ "", REMOTE_TLS_MAY },
	{ "may", REMOTE_TLS_MAY },
	{ "encrypt", REMOTE_TLS_ENCRYPT },
	{ "verify", REMOTE_TLS_VERIFY },
};

static int job_tls(const char *v, enum remote_tls *out)
{
	for (size_t i = 0; i < sizeof job_tls_names / sizeof job_tls_names[0];
	     i++)
		if (strcmp(v, job_tls_names[i].name) == 0) {
			*out = job_tls_names[i].tls;
			return 0;
		}
	return -1;
}

/* "<index> <address>": index decimal, the address a mailbox as
 * lib/addr.h defines it (so it may go into RCPT TO). */
static int job_rcpt(struct remote_rcpt *r, const char *v)
{
	char *end;
	long idx = strtol(v, &end, 10);

	if (end == v || *end != ' ' || idx < 0 || v[0] == '-' || v[0] == '+')
		return -1;
	end++;
	if (addr_mailbox_check(end, 1) != ADDR_OK ||
	    job_copy(r->addr, sizeof r->addr, end) < 0)
		return -1;
	r->index = idx;
	r->status = 0;
	r->code = 0;
	r->text[0] = '\0';
	return 0;
}

/* A name field ("auth", "host", "domain"): no spaces, no slashes in auth. */
static int job_name(char *dst, size_t dstsz, const char *v, const char *bad)
{
	if (strpbrk(v, bad))
		return -1;
	return job_copy(dst, dstsz, v);
}

/* "" or "verify": AUTH only over TLS whose certificate was verified;
 * "unverified": the route accepts sending it over any TLS. */
static int job_auth_tls(const char *v, int *unverified)
{
	*unverified = strcmp(v, "unverified") == 0;
	return *unverified || !*v || strcmp(v, "verify") == 0 ? 0 : -1;
}

/* "yes": implicit TLS; "" or "no" (or absent): STARTTLS per tls=. */
static int job_tls_wrap(const char *v, int *wrap)
{
	*wrap = strcmp(v, "yes") == 0;
	return *wrap || !*v || strcmp(v, "no") == 0 ? 0 : -1;
}

/* "" and "0" mean the default (cf.smtp_port). */
static int job_port(long *port, const char *v)
{
	char *end;
	if (!*v) {
		*port = 0;
		return 0;
	}
	*port = strtol(v, &end, 10);
	return (*end || *port < 0 || *port > 65535) ? -1 : 0;
}

static int job_fields(struct remote_job *job, const struct kv_msg *m,
		      const char **bad)
{
	const char *qid = kv_get(m, WIRE_REMOTE_QID);
	const char *file = kv_get(m, WIRE_REMOTE_FILE);

	if (!qid || !*qid || job_name(job->qid, sizeof job->qid, qid, " /"))
		return *bad = WIRE_REMOTE_QID, -1;
	if (!file || file[0] != '/' || job_copy(job->file, sizeof job->file, file))
		return *bad = WIRE_REMOTE_FILE, -1;
	if (job_name(job->host, sizeof job->host, kv_get_or(m, WIRE_REMOTE_HOST, ""), " /"))
		return *bad = WIRE_REMOTE_HOST, -1;
	if (job_name(job->via, sizeof job->via, kv_get_or(m, WIRE_REMOTE_VIA, ""), " /"))
		return *bad = WIRE_REMOTE_VIA, -1;
	if (job_port(&job->port, kv_get_or(m, WIRE_REMOTE_PORT, "")))
		return *bad = WIRE_REMOTE_PORT, -1;
	if (job_tls(kv_get_or(m, WIRE_REMOTE_TLS, ""), &job->tls))
		return *bad = WIRE_REMOTE_TLS, -1;
	if (job_name(job->auth, sizeof job->auth, kv_get_or(m, WIRE_REMOTE_AUTH, ""),
		     " /") || job->auth[0] == '.')
		return *bad = WIRE_REMOTE_AUTH, -1;
	if (job_auth_tls(kv_get_or(m, WIRE_REMOTE_AUTH_TLS, ""), &job->auth_unverified))
		return *bad = WIRE_REMOTE_AUTH_TLS, -1;
	/* implicit TLS only to a fixed host: makecdb refuses it with mx */
	if (job_tls_wrap(kv_get_or(m, WIRE_REMOTE_TLS_WRAP, ""), &job->tls_wrap) ||
	    (job->tls_wrap && !job->host[0]))
		return *bad = WIRE_REMOTE_TLS_WRAP, -1;
	if (job_name(job->domain, sizeof job->domain,
		     kv_get_or(m, WIRE_REMOTE_DOMAIN, ""), " /"))
		return *bad = WIRE_REMOTE_DOMAIN, -1;
	if (!job->host[0] && !job->domain[0])
		return *bad = "host or domain", -1;
	return 0;
}

int remote_job_parse(struct remote_job *job, const struct kv_msg *m,
		     char *err, size_t errsz)
{
	const char *bad = NULL;
	size_t n = 0;

	/* not the whole job: its big tail is read only as far as the
	 * fields cleared here say (remote.h) */
	memset(job, 0, offsetof(struct remote_job, file));
	job->sec.kind = REMOTE_SEC_NONE;
	job->sec.ntlsa = 0;
	job->qfd = -1;
	strcpy(job->relay, "none");
	strcpy(job->tlsdesc, "none");
	if (job_fields(job, m, &bad) < 0)
		goto fail;
	for (size_t i = 0; i < m->n; i++)
		n += strcmp(m->pair[i].key, WIRE_REMOTE_RCPT) == 0;
	if (n == 0 || n > REMOTE_RCPT_MAX) {
		bad = "rcpt count";
		goto fail;
	}
	job->rcpt = calloc(n, sizeof *job->rcpt);
	if (!job->rcpt) {
		bad = "memory";
		goto fail;
	}
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->pair[i].key, WIRE_REMOTE_RCPT) != 0)
			continue;
		if (job_rcpt(&job->rcpt[job->nrcpt], m->pair[i].value) < 0) {
			bad = WIRE_REMOTE_RCPT;
			goto fail;
		}
		job->nrcpt++;
	}
	return 0;
fail:
	snprintf(err, errsz, "bad job frame: %s", bad);
	remote_job_free(job);
	return -1;
}

void remote_job_free(struct remote_job *job)
{
	if (job->qfd >= 0)
		close(job->qfd);
	job->qfd = -1;
	free(job->rcpt);
	job->rcpt = NULL;
	job->nrcpt = 0;
}

void remote_job_fail_pending(struct remote_job *job, char status, int code,
			     const char *text)
{
	for (size_t i = 0; i < job->nrcpt; i++) {
		struct remote_rcpt *r = &job->rcpt[i];
		if (r->status)
			continue;
		r->status = status;
		r->code = code;
		snprintf(r->text, sizeof r->text, "%s", text);
	}
}

size_t remote_job_pending(const struct remote_job *job)
{
	size_t n = 0;
	for (size_t i = 0; i < job->nrcpt; i++)
		n += job->rcpt[i].status == 0;
	return n;
}

/* The result frame with each reply text cut to cap bytes; TLS-RPT
 * records only when rpt. */
static void result_build(const struct remote_job *job, struct kv *out,
			 size_t cap, int rpt)
{
	char clean[REMOTE_TEXT_MAX];
	const char *cleaned = NULL; /* the text clean[] holds */

	kv_reset(out);
	for (size_t i = 0; i < job->nrcpt; i++) {
		const struct remote_rcpt *r = &job->rcpt[i];
		/* recipients mostly share one reply: clean it once */
		if (!cleaned || strcmp(cleaned, r->text) != 0) {
			log_clean(clean, sizeof clean, r->text, strlen(r->text));
			cleaned = r->text;
		}
		kv_addf(out, WIRE_REMOTE_RCPT, "%ld %c %d %.*s", r->index,
			r->status ? r->status : 'T', r->code ? r->code : 451,
			(int)cap, r->status ? clean : RESULT_NONE);
	}
	for (size_t i = 0; i < job->nrcpt; i++)
		if (job->rcpt[i].nodsn)
			kv_addf(out, WIRE_REMOTE_NODSN, "%ld", job->rcpt[i].index);
	for (size_t i = 0; rpt && i < job->nrpt; i++) {
		char line[TLSRPT_LINE_MAX];
		if (tlsrpt_rec_format(&job->rpt[i], line, sizeof line) == 0)
			kv_add(out, WIRE_REMOTE_TLSRPT, line);
	}
	kv_add(out, WIRE_REMOTE_RELAY, job->relay);
	kv_add(out, WIRE_REMOTE_TLS, job->tlsdesc);
}

/* The longest cut of the texts that adds at most room bytes to a frame
 * built without them (cap 0). */
static size_t result_cap(const struct remote_job *job, size_t room)
{
	size_t lo = 0, hi = REMOTE_TEXT_MAX;

	while (lo < hi) {
		size_t mid = (lo + hi + 1) / 2, sum = 0;
		for (size_t i = 0; i < job->nrcpt && sum <= room; i++) {
			size_t n = job->rcpt[i].status
					   ? strlen(job->rcpt[i].text)
					   : sizeof RESULT_NONE - 1;
			sum += n < mid ? n : mid;
		}
		if (sum <= room)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

void remote_job_result(const struct remote_job *job, struct kv *out)
{
	size_t cap;

	result_build(job, out, REMOTE_TEXT_MAX, 1);
	if (!out->failed)
		return;
	/* over NS_MAX (many recipients, long replies): relay-send would
	 * see no result and send the message again, to every one of them.
	 * The texts are cut to what fits; failing that (it cannot, with
	 * REMOTE_RCPT_MAX recipients) the codes alone, without TLS-RPT. */
	result_build(job, out, 0, 1);
	cap = out->failed ? 0 : result_cap(job, NS_MAX - out->len);
	log_warn("%s: result of %zu recipients over %d bytes: reply texts cut "
		 "to %zu bytes%s", job->qid, job->nrcpt, NS_MAX, cap,
		 out->failed ? ", TLS-RPT records dropped" : "");
	result_build(job, out, cap, !out->failed);
	if (out->failed) { /* a bug: never drop a result */
		log_warn("%s: result frame still too big: codes only", job->qid);
		result_build(job, out, 0, 0);
	}
}

/* The operator vouches for a domain's DNS when a rcpt route names it
 * (via is the route key that matched: "route:rcpt:corp.example", or
 * "route:rcpt:.corp.example" for its subdomains), so their own CA may
 * vouch for its MX hosts too, and those may be inside their network.
 * Not route:default, not a sender route,
 * not plain MX delivery: there a recipient's domain, any on the
 * Internet, chose the host.  The key is checked against the job's
 * domain so that a via naming another domain vouches for nothing. */
int remote_job_operator_hop(const struct remote_job *job)
{
	static const char pre[] = "route:rcpt:";
	const char *key = job->via + sizeof pre - 1;
	size_t kl, dl;

	if (job->host[0])
		return 1;
	if (strncmp(job->via, pre, sizeof pre - 1) != 0 || !*key)
		return 0;
	if (key[0] != '.')
		return strcasecmp(key, job->domain) == 0;
	kl = strlen(key);
	dl = strlen(job->domain);
	return dl > kl && strcasecmp(job->domain + dl - kl, key) == 0;
}

int remote_private_refused(const struct remote_job *job)
{
	return strcmp(cf.remote_private_addresses, "refuse") == 0 &&
	       !(job && remote_job_operator_hop(job));
}
