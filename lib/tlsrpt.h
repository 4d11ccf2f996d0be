/* tlsrpt.h: SMTP TLS Reporting (RFC 8460), the contract between
 * relay-remote, which sees each TLS session an MTA-STS or DANE policy
 * governed, and relay-send, which keeps them and mails the daily
 * aggregate report to the policy domain's rua.  A result travels in
 * relay-remote's result frame as WIRE_REMOTE_TLSRPT lines
 * "<domain> <sts|tlsa> <result> <mx> <ip>[ <detail>]"
 * (tlsrpt_rec_format/parse);
 * relay-send appends them to DIR/tlsrpt/records (TLSRPT_DIR, its own
 * folder) and turns them into reports (send/send_tlsrpt.c). */
#ifndef TLSRPT_H
#define TLSRPT_H

#include <stddef.h>
#include <time.h>

#define TLSRPT_DIR "tlsrpt"        /* under the instance directory */
#define TLSRPT_NAME_MAX 256
#define TLSRPT_DETAIL_MAX 600
#define TLSRPT_LINE_MAX (5 * TLSRPT_NAME_MAX + TLSRPT_DETAIL_MAX)

struct tlsrpt_rec {
	char domain[TLSRPT_NAME_MAX];  /* the policy domain */
	char policy[8];                /* "sts" or "tlsa" */
	char result[32];               /* "success" or an RFC 8460 4.3 type */
	char mx[TLSRPT_NAME_MAX];      /* receiving-mx-hostname */
	char ip[64];                   /* receiving-ip */
	/* sts: the policy applied, "<mode>,<max_age>,<mx>,<mx>..." (for
	 * the report's policy-string and mx-host); "" for tlsa */
	char detail[TLSRPT_DETAIL_MAX];
	long count;                    /* sessions like this (not on the wire) */
};

/* 1 when s is "success" or a result type of RFC 8460 4.3. */
int tlsrpt_result_ok(const char *s);
/* The result type of a failed certificate check (an X509_V_ERR_*). */
const char *tlsrpt_verify_type(long err);
/* The line form; -1 when a field is unfit (a space, a bad name). */
int tlsrpt_rec_format(const struct tlsrpt_rec *r, char *buf, size_t n);
/* Strict: five fields, names of [A-Za-z0-9.-_], a known policy and
 * result, an IPv4 or IPv6 address, and for sts a sixth, the detail
 * (mode, max_age, mx patterns).  0 or -1. */
int tlsrpt_rec_parse(const char *line, struct tlsrpt_rec *r);

/* The JSON report (RFC 8460 4.4) of the records of one policy domain,
 * each standing for count sessions (no two alike), one policy entry per
 * policy type and detail (an sts policy-string and mx-host from it):
 * malloc'd, *len bytes, NULL when out of memory.  org is the
 * organization-name and contact-info, id the report-id, [start, end)
 * the date-range. */
char *tlsrpt_json(const char *domain, const struct tlsrpt_rec *r, size_t n,
		  const char *org, const char *id, time_t start, time_t end,
		  size_t *len);

#endif
