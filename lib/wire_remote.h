/* wire_remote.h: the relay-send <-> relay-remote protocol on
 * run/remote.sock (ARCHITECTURE.md), defined once for both sides: the
 * keys of the job frame and of its result frame, and the time a job may
 * take. */
#ifndef WIRE_REMOTE_H
#define WIRE_REMOTE_H

#include "settings.h"

#include <string.h>

/* The job frame (relay-send -> relay-remote). */
#define WIRE_REMOTE_QID "qid"           /* the queue id */
#define WIRE_REMOTE_FILE "file"         /* its path; the file is attached (SCM_RIGHTS) */
#define WIRE_REMOTE_HOST "host"         /* fixed host, "" for the MX */
#define WIRE_REMOTE_PORT "port"         /* "" or "0": cf.smtp_port */
#define WIRE_REMOTE_TLS "tls"           /* none|may|encrypt|verify */
#define WIRE_REMOTE_AUTH "auth"         /* secrets/ file name, "" */
#define WIRE_REMOTE_AUTH_TLS "auth_tls" /* "" (verify) or "unverified" */
/* "yes": implicit TLS (RFC 8314 3), the handshake first, then the
 * greeting inside it, never STARTTLS and never plain text; absent, ""
 * or "no": the greeting, then STARTTLS per tls= */
#define WIRE_REMOTE_TLS_WRAP "tls_wrap"
#define WIRE_REMOTE_DOMAIN "domain"     /* the recipients' domain */
/* with a fixed host: the setting that chose it, "relayhost" or the
 * route's rules.cdb key ("route:rcpt:example.org"), for the log */
#define WIRE_REMOTE_VIA "via"
/* one per recipient: "<index> <address>" in the job, and in the result
 * "<index> <D|T|B> <code> <text>" */
#define WIRE_REMOTE_RCPT "rcpt"
/* The result frame (relay-remote -> relay-send) adds: */
#define WIRE_REMOTE_RELAY "relay"       /* "host[ip]:port" or "none" */
/* and WIRE_REMOTE_TLS: the TLS version and cipher used, or "none"; and
 * one "<index>" per recipient delivered (D) to a server that did not
 * offer DSN while it asked NOTIFY=SUCCESS: relay-send sends the
 * "relayed" notice (RFC 3461 5.2.2) */
#define WIRE_REMOTE_NODSN "nodsn"
/* and, with tls_rpt = yes, one per TLS session an MTA-STS or DANE policy
 * governed: a TLS-RPT record (lib/tlsrpt.h) */
#define WIRE_REMOTE_TLSRPT "tlsrpt"

/* A TLS-RPT report for an https: rua (relay-send -> relay-remote, on a
 * connection of its own): post=<url>, the JSON attached as a descriptor
 * (SCM_RIGHTS); the answer: post=ok|failed, text=<why>. */
#define WIRE_REMOTE_POST "post"
#define WIRE_REMOTE_POST_TEXT "text"
#define WIRE_REMOTE_POST_MAX (4 << 20)  /* bytes of a report */

/* A deferred recipient's result that says the next hop took no more
 * recipients in that transaction (RFC 5321 4.5.3.1.10; relay-remote
 * reports RFC 821's 552 5.5.3 as 452 4.5.3 too).  When the same job
 * delivered to others, relay-send tries it again at once, in a job of
 * its own with its own time, not after retry_min. */
static inline int wire_remote_too_many(int code, const char *text)
{
	return code == 452 && strncmp(text, "4.5.3", 5) == 0 &&
	       (text[5] == ' ' || text[5] == '\0');
}

/* Seconds relay-send gives a job before it drops the worker and defers
 * the recipients; relay-remote stops a job itself a little before
 * (remote_worker_budget), so no delivery goes on after relay-send has
 * given up on it. */
static inline long wire_remote_job_budget(void)
{
	return 4 * cf.connect_timeout + 3 * cf.remote_timeout +
	       cf.remote_data_done_timeout;
}

#endif
