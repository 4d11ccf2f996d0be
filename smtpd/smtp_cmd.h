/* smtp_cmd.h: parsing SMTP command lines into a verb and its argument,
 * and MAIL/RCPT parameters.  Pure functions (no I/O), unit tested with
 * hostile input in tests/unit/test_smtp_cmd.c. */
#ifndef SMTP_CMD_H
#define SMTP_CMD_H

#include <stddef.h>

#define SMTP_VERB_MAX 12

/* What is wrong with a raw command line, before it is parsed. */
enum smtp_cmd_line {
	SMTP_LINE_OK = 0,
	SMTP_LINE_BARE,     /* bare LF or bare CR: 500 5.5.2 */
	SMTP_LINE_TOOLONG,  /* over line_max: 500 5.5.2 */
	SMTP_LINE_NUL,      /* a NUL byte: 500 5.5.2 */
};

/* Classify a line read by io_getline (len bytes, flags from it). */
enum smtp_cmd_line smtp_cmd_check(const char *line, size_t len,
				  unsigned flags);

/* Split line (modified in place) into the verb, uppercased into
 * verb[SMTP_VERB_MAX + 1], and *arg (leading and trailing spaces
 * removed, "" when none).  -1 when the verb is empty, too long or not
 * made of letters. */
int smtp_cmd_split(char *line, char *verb, char **arg);

/* When arg starts with keyword (case-insensitive, e.g. "FROM:"), the
 * text after it; else NULL. */
const char *smtp_cmd_after(const char *arg, const char *keyword);

#include "dsn.h"

/* The longest "KEY=VALUE" of MAIL or RCPT: ORCPT= and its 500. */
#define SMTP_PARAM_MAX (DSN_ORCPT_MAX + 16)

/* MAIL FROM parameters. */
struct smtp_mail_params {
	long size;        /* SIZE=, -1 when not given */
	int body8;        /* BODY=8BITMIME */
	int smtputf8;     /* SMTPUTF8 */
	int ret;          /* RET= (enum dsn_ret), 0 not given */
	char envid[DSN_ENVID_MAX + 1]; /* ENVID= (xtext), "" not given */
};

/* Parse the parameters after the path ("SIZE=100 BODY=8BITMIME").
 * Returns 0, or an SMTP reply (without CRLF) in reply: 501 for a bad
 * value (RET= and ENVID= as RFC 3461 4.3, 4.4 say) or a parameter given
 * twice ("501 5.5.4 Duplicate SIZE parameter", any of them), 555 for an
 * unknown parameter, 552 when SIZE exceeds size_max. */
int smtp_cmd_mail_params(const char *s, long size_max,
			 struct smtp_mail_params *p, char *reply,
			 size_t replysz);

/* RCPT TO parameters (RFC 3461). */
struct smtp_rcpt_params {
	unsigned notify;  /* NOTIFY= (DSN_NOTIFY_*), 0 not given */
	char orcpt[DSN_ORCPT_MAX + 1]; /* ORCPT= (addr-type;xtext), "" */
	int orcpt_utf8;   /* ORCPT was UTF-8, now in its ASCII form */
};

/* Parse the parameters after the RCPT path: NOTIFY and ORCPT (each
 * once, checked by lib/dsn.h).  0, or a reply as for MAIL: 501 for a
 * bad or repeated value, 555 for any other parameter. */
int smtp_cmd_rcpt_params(const char *s, struct smtp_rcpt_params *p,
			 char *reply, size_t replysz);

/* BDAT's argument "<size> [LAST]" (RFC 3030): 0 with the chunk's size
 * and whether it is the last, -1 when it is not that (the chunk's
 * length is then unknown). */
int smtp_cmd_bdat(const char *arg, unsigned long long *size, int *last);
/* 1 when a line that smtp_cmd_split refused is BDAT all the same: the
 * verb followed by something other than SP ("BDAT\t5", "BDAT5"), so
 * that a chunk may follow whose length is unknown. */
int smtp_cmd_bdat_mangled(const char *line);

/* 1 when s has a byte >= 0x80 (an address that needs SMTPUTF8). */
int smtp_cmd_has_8bit(const char *s);

#endif
