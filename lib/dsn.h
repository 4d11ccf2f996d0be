/* dsn.h: Delivery Status Notification parameters (RFC 3461), defined
 * once for every part: the syntax relay-smtpd accepts (RET, ENVID on
 * MAIL; NOTIFY, ORCPT on RCPT), the envelope field that carries a
 * recipient's parameters to relay-queue, the queue file's keys
 * (queue/QUEUE.md), and the xtext coding relay-send decodes for its
 * notices and relay-remote passes on unchanged.
 *
 * Values are kept as they came (xtext still encoded, validated): they
 * are printable ASCII without spaces, so they fit a queue file line and
 * an SMTP parameter as they are. */
#ifndef DSN_H
#define DSN_H

#include <stddef.h>

/* NOTIFY (RFC 3461 4.1): a set of these; 0 = not given (the default:
 * failure and delay notices, as if FAILURE,DELAY). */
#define DSN_NOTIFY_SUCCESS 0x1u
#define DSN_NOTIFY_FAILURE 0x2u
#define DSN_NOTIFY_DELAY   0x4u
#define DSN_NOTIFY_NEVER   0x8u

#define DSN_ENVID_MAX 100   /* RFC 3461 4.4: the xtext, at most 100 */
#define DSN_ORCPT_MAX 500   /* RFC 3461 4.2: "addr-type;xtext", 500 */
#define DSN_NOTIFY_TEXT 24  /* "SUCCESS,FAILURE,DELAY" + NUL */

/* Queue file and envelope info keys (queue/QUEUE.md). */
#define DSN_KEY_RET "dsn_ret"       /* FULL or HDRS */
#define DSN_KEY_ENVID "dsn_envid"   /* the ENVID's xtext */
/* One line per recipient that has parameters:
 * "dsn_rcpt=<index> <NOTIFY or -> <ORCPT or ->". */
#define DSN_KEY_RCPT "dsn_rcpt"
/* Envelope field (relay-smtpd -> relay-queue) after its T field:
 * "N<NOTIFY or -> <ORCPT or ->". */
#define DSN_ENV_RCPT 'N'

enum dsn_ret { DSN_RET_NONE = 0, DSN_RET_FULL, DSN_RET_HDRS };

/* A recipient's parameters; orcpt points into someone's storage. */
struct dsn_rcpt {
	unsigned notify;          /* DSN_NOTIFY_*, 0 not given */
	const char *orcpt;        /* "addr-type;xtext", NULL not given */
};

/* 1 when s (len bytes) is xtext (RFC 3461 4: "!".."~" except "+" and
 * "=", or "+" and two uppercase hex digits) whose decoded text is
 * printable ASCII (0x20..0x7e), as ENVID and ORCPT must be. */
int dsn_xtext_ok(const char *s, size_t len);
/* Decode xtext (checked with dsn_xtext_ok) into out (n bytes, cut to
 * fit, always terminated); returns out. */
char *dsn_xtext_decode(const char *s, char *out, size_t n);
/* Encode printable text as xtext into out (n bytes, cut at a whole
 * character); returns out. */
char *dsn_xtext_encode(const char *s, char *out, size_t n);

/* Parse a NOTIFY value (case-insensitive): NEVER alone, or a list of
 * SUCCESS, FAILURE, DELAY, each at most once.  0 with *notify, -1. */
int dsn_notify_parse(const char *v, unsigned *notify);
/* The canonical text ("NEVER", "SUCCESS,DELAY"; "-" for 0) in buf of at
 * least DSN_NOTIFY_TEXT bytes; returns buf. */
const char *dsn_notify_format(unsigned notify, char *buf);
/* 1 when a recipient with notify wants a notice of this kind
 * (DSN_NOTIFY_SUCCESS, _FAILURE or _DELAY): as asked, or by default
 * failure and delay. */
int dsn_notify_wants(unsigned notify, unsigned kind);

/* RET: FULL or HDRS (case-insensitive); DSN_RET_NONE when neither. */
enum dsn_ret dsn_ret_parse(const char *v);
const char *dsn_ret_name(enum dsn_ret r); /* "FULL", "HDRS", "" */

/* 1 when v is an ENVID: xtext, 1 to DSN_ENVID_MAX bytes. */
int dsn_envid_ok(const char *v);
/* 1 when v is an ORCPT: addr-type (an RFC 5322 atom) ";" xtext, at most
 * DSN_ORCPT_MAX bytes, the xtext not empty. */
int dsn_orcpt_ok(const char *v);

/* The per-recipient text of the envelope field and of the queue file
 * line: "<NOTIFY or -> <ORCPT or ->" into buf (at least DSN_NOTIFY_TEXT
 * + DSN_ORCPT_MAX + 2 bytes); returns buf. */
#define DSN_RCPT_TEXT (DSN_NOTIFY_TEXT + DSN_ORCPT_MAX + 2)
const char *dsn_rcpt_format(const struct dsn_rcpt *r, char *buf);
/* RFC 6533 3.3: under SMTPUTF8 an ORCPT of type utf-8 may give the
 * address as UTF-8 (utf-8-addr-unitext).  Into out (n bytes) its ASCII
 * form, utf-8-addr-xtext (each non-ASCII character as \x{HEX}), which
 * every later reader takes as it is: the queue file, a next hop with or
 * without SMTPUTF8, a delivery report.  0, or -1 when v is not "utf-8;"
 * and valid UTF-8, or its ASCII form is no ORCPT (dsn_orcpt_ok) or does
 * not fit. */
int dsn_orcpt_utf8_to_ascii(const char *v, char *out, size_t n);

/* Parse that text in place (s is cut at the space; r->orcpt points into
 * it); 0, or -1 when it is not exactly that. */
int dsn_rcpt_parse(char *s, struct dsn_rcpt *r);

#endif
