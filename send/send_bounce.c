/* send_bounce.c: who gets told what.  A bounce (Action: failed) for the
 * recipients that ended B, once, when the message is done; a delay
 * warning (Action: delayed) once after delay_warning seconds; a success
 * notice (Action: relayed) when a server without DSN took a recipient
 * that asked NOTIFY=SUCCESS.  Each lists only the recipients whose
 * NOTIFY asks for it (none for NEVER; failure and delay by default).
 * Never a bounce for a bounce: a failed bounce goes to postmaster once
 * (relay.conf postmaster; dsn=double), a failed double bounce is only
 * logged.  A customer's own
 * bounce, relayed as postmaster@<its domain> (null_sender=yes, admit.h),
 * is a bounce too. */
#include "send.h"
#include "admit.h"
#include "log.h"
#include "settings.h"
#include "dsn.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOUNCE_HEADERS_MAX 65536

/* State texts may start with "{host[ip]:port} ": split that off. */
static const char *bounce_relay(const char *text, char *relay, size_t n)
{
	const char *end;
	relay[0] = '\0';
	if (text[0] != '{' || !(end = strchr(text, '}')))
		return text;
	snprintf(relay, n, "%.*s", (int)(end - text - 1), text + 1);
	return end[1] == ' ' ? end + 2 : end + 1;
}

int send_bounce_is_null(const struct send_msg *m)
{
	const char *null = qfile_get_info(&m->q, ADMIT_WIRE_NULL_SENDER);

	return !m->q.from[0] || (null && !strcmp(null, ADMIT_WIRE_YES));
}

/* The message's RET=FULL is honoured in a failure notice when the
 * notice as composed, with what relay-queue adds to it (a Received
 * header, DKIM signatures), stays under message_size_max, which the
 * sender's MX may share; else its header block goes, as for HDRS. */
#define BOUNCE_FULL_ADDED 8192

static int bounce_full(const struct send_msg *m, int failure)
{
	const char *ret = qfile_get_info(&m->q, DSN_KEY_RET);
	off_t size = m->q.size - m->q.body;

	return failure && ret && dsn_ret_parse(ret) == DSN_RET_FULL &&
	       size + BOUNCE_FULL_ADDED <= cf.message_size_max;
}

/* d about m with the whole message (d->full) or its header block; the
 * notice malloc'd (*hdr too: free both), NULL when out of memory. */
static char *bounce_compose(const char *path, const struct send_msg *m,
			    struct send_dsn *d, char **hdr, size_t *mlen)
{
	size_t body = (size_t)(m->q.size - m->q.body);

	*hdr = send_dsn_headers(path, m->q.body,
				d->full ? body : BOUNCE_HEADERS_MAX,
				&d->headers_len, d->full);
	if (!*hdr)
		return NULL;
	d->headers = *hdr;
	return send_dsn_compose(d, mlen);
}

/* Compose d (its recipients set) about m and inject it to `to`; 0 with
 * the new qid, -1. */
static int bounce_inject(const char *qdir, const struct send_msg *m,
			 struct send_dsn *d, const char *to, const char *kind,
			 char *qid, size_t qidsz)
{
	char path[PATH_MAX], err[300];
	size_t mlen = 0;
	const char *utf8;
	char *hdr, *msg;
	int rc = -1;

	snprintf(path, sizeof path, "%s/new/%s", qdir, m->q.qid);
	d->reporting_mta = cf.hostname;
	d->qid = m->q.qid;
	d->to = to;
	d->envid = qfile_get_info(&m->q, DSN_KEY_ENVID);
	d->arrival = m->q.arrival;
	d->now = send_now();
	d->retry_until = m->q.arrival + cf.queue_lifetime;
	d->full = bounce_full(m, !d->delayed && !d->relayed);
	utf8 = qfile_get_info(&m->q, QFILE_INFO_SMTPUTF8);
	d->utf8 = utf8 && !strcmp(utf8, QFILE_INFO_YES);
	msg = bounce_compose(path, m, d, &hdr, &mlen);
	if (msg && d->full &&
	    mlen + BOUNCE_FULL_ADDED > (size_t)cf.message_size_max) {
		/* the report of many recipients made it too big */
		free(msg);
		free(hdr);
		d->full = 0;
		msg = bounce_compose(path, m, d, &hdr, &mlen);
	}
	if (!msg)
		log_warn("%s: cannot compose notification", m->q.qid);
	else if (send_inject(msg, mlen, "", to, kind, send_dsn_global(d), qid,
			     qidsz, err, sizeof err) < 0)
		log_warn("%s: notification not queued: %s", m->q.qid, err);
	else
		rc = 0;
	free(msg);
	free(hdr);
	return rc;
}

/* What a notice from the state reports: failed recipients (B), pending
 * ones (P, T: the delay warning), or delivered ones owed a success
 * notice (D with an R line). */
enum bounce_what { BOUNCE_FAILED, BOUNCE_DELAYED, BOUNCE_OWED };

static int bounce_listed(const struct qstate_rcpt *s, enum bounce_what what)
{
	switch (what) {
	case BOUNCE_FAILED:
		return s->status == 'B';
	case BOUNCE_DELAYED:
		return s->status == 'P' || s->status == 'T';
	case BOUNCE_OWED:
		return s->status == 'D' && s->owed;
	}
	return 0;
}

static const unsigned bounce_want[] = { DSN_NOTIFY_FAILURE, DSN_NOTIFY_DELAY,
					DSN_NOTIFY_SUCCESS };

/* A DSN over the recipients what selects who asked for this kind of
 * notice (NOTIFY, lib/dsn.h; a null sender's double bounce goes
 * whatever they asked).  0 with the new qid; 1 when no recipient wants
 * one; -1. */
static int bounce_send(const char *qdir, struct send_msg *m, const char *to,
		       const char *kind, enum bounce_what what, char *qid,
		       size_t qidsz)
{
	struct send_dsn_rcpt *r = calloc(m->q.nrcpt, sizeof *r);
	char (*relay)[300] = calloc(m->q.nrcpt, sizeof *relay);
	struct send_dsn d = { .delayed = what == BOUNCE_DELAYED,
			      .relayed = what == BOUNCE_OWED };
	size_t n = 0;
	int rc = -1;

	for (size_t i = 0; r && relay && i < m->q.nrcpt; i++) {
		struct qstate_rcpt *s = &m->st.r[i];
		struct dsn_rcpt p = qfile_dsn(&m->q, i);
		if (!bounce_listed(s, what) ||
		    (!send_bounce_is_null(m) &&
		     !dsn_notify_wants(p.notify, bounce_want[what])))
			continue;
		r[n].addr = m->q.rcpt[i];
		r[n].code = s->code;
		r[n].text = bounce_relay(s->text, relay[n], sizeof relay[n]);
		r[n].relay = relay[n];
		r[n].last = s->attempts > 0 ? s->last : 0;
		r[n].orcpt = p.orcpt;
		r[n].expired = s->status == 'B' ? s->expired : 0;
		n++;
	}
	d.rcpt = r;
	d.nrcpt = n;
	if (r && relay)
		rc = n ? bounce_inject(qdir, m, &d, to, kind, qid, qidsz) : 1;
	free(relay);
	free(r);
	return rc;
}

int send_bounce_final(const char *qdir, struct send_msg *m)
{
	const char *kind = qfile_get_info(&m->q, "dsn");
	char to[300], qid[QFILE_ID_MAX], line[128];
	size_t nb = 0;
	int len;

	for (size_t i = 0; i < m->q.nrcpt; i++)
		nb += m->st.r[i].status == 'B';
	if (nb == 0 || m->st.bounced)
		return 0;
	if (!send_bounce_is_null(m)) {
		snprintf(to, sizeof to, "%s", m->q.from);
		kind = "bounce";
	} else if (!kind || strcmp(kind, "double") != 0) {
		snprintf(to, sizeof to, "%s", cf.postmaster);
		kind = "double";
	} else {
		/* nobody heard of it: the operator must look (relay.conf
		 * postmaster) */
		log_warn("%s: undeliverable double bounce dropped", m->q.qid);
		return 0;
	}
	switch (bounce_send(qdir, m, to, kind, BOUNCE_FAILED, qid, sizeof qid)) {
	case -1:
		return -1;
	case 1:
		log_info("%s: no non-delivery notification (NOTIFY)", m->q.qid);
		return 0;
	}
	log_info("%s: sender non-delivery notification: %s", m->q.qid, qid);
	len = snprintf(line, sizeof line, "X %lld %s\n", send_now(), qid);
	send_msg_record(qdir, m, line, (size_t)len);
	return 0;
}

void send_bounce_check_postmaster(struct rcdb *db)
{
	char own[300];
	struct send_route r;

	snprintf(own, sizeof own, "postmaster@%s", cf.hostname);
	if (strcmp(cf.postmaster, own) != 0)
		return;
	send_route_lookup(db, cf.relayhost, cf.postmaster, "", &r);
	if (!strcmp(r.via, "mx"))
		log_warn("%s gets the double bounces and refused archive "
			 "copies, and goes by MX to %s: the relay itself when "
			 "that name is this box; set postmaster = ADDRESS in "
			 "relay.conf (a mailbox a person reads) or route the "
			 "domain (relay.rules: route rcpt)", cf.postmaster,
			 cf.hostname);
}

void send_bounce_warn(const char *qdir, struct send_msg *m, long long now)
{
	char qid[QFILE_ID_MAX], line[64];
	int len;

	if (!cf.delay_warning || m->st.warned || send_bounce_is_null(m) ||
	    now - m->q.arrival < cf.delay_warning || !qstate_pending(&m->st))
		return;
	switch (bounce_send(qdir, m, m->q.from, "delay", BOUNCE_DELAYED, qid,
			    sizeof qid)) {
	case -1:
		return;
	case 1: /* nobody asked: recorded all the same, so asked once */
		log_info("%s: no delay notification (NOTIFY)", m->q.qid);
		break;
	default:
		log_info("%s: sender delay notification: %s", m->q.qid, qid);
	}
	len = snprintf(line, sizeof line, "W %lld\n", now);
	if (send_msg_record(qdir, m, line, (size_t)len) < 0)
		m->st.warned = now; /* do not repeat it every pass */
}

int send_bounce_relayed(const char *qdir, struct send_msg *m,
			const struct send_dsn_rcpt *r, size_t n)
{
	struct send_dsn d = { .relayed = 1, .rcpt = r, .nrcpt = n };
	char qid[QFILE_ID_MAX];

	if (!n || send_bounce_is_null(m))
		return 0;
	/* before the results are recorded: a crash in between sends the
	 * notice again (with the message), never loses it */
	if (bounce_inject(qdir, m, &d, m->q.from, "relayed", qid,
			  sizeof qid) < 0)
		return -1;
	log_info("%s: sender success notification: %s", m->q.qid, qid);
	return 0;
}

int send_bounce_owed(const char *qdir, struct send_msg *m, long long now)
{
	char qid[QFILE_ID_MAX], line[128];
	int len;

	if (!qstate_owed(&m->st))
		return 0;
	switch (bounce_send(qdir, m, m->q.from, "relayed", BOUNCE_OWED, qid,
			    sizeof qid)) {
	case -1:
		return -1;
	case 1: /* none listed (a null sender's): nothing is owed */
		len = snprintf(line, sizeof line, "S %lld -\n", now);
		break;
	default:
		log_info("%s: sender success notification (owed): %s",
			 m->q.qid, qid);
		len = snprintf(line, sizeof line, "S %lld %s\n", now, qid);
	}
	/* applied in memory even when the write fails: sent once */
	send_msg_record(qdir, m, line, (size_t)len);
	return 0;
}
