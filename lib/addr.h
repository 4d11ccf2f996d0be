/* addr.h: RFC 5321 paths ("<local@domain>") and their parts.
 * Strict where it guards the relay (source routes, bad domains, lengths),
 * lenient where devices are sloppy (a space after the colon, no brackets).
 *
 * addr_mailbox_check() is the one definition of a mailbox: relay-smtpd
 * (through addr_parse_path), relay-policy, relay-queue, relay-send,
 * relay-remote and makecdb all call it, so what one part accepts no
 * later part refuses. */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>

/* RFC 5321 4.5.3.1: a path is at most 256 octets with its "<" and ">",
 * so the longest mailbox is 254; a buffer for one is ADDR_MAX + 1. */
#define ADDR_MAX 254
#define ADDR_LOCAL_MAX 64   /* 4.5.3.1.1, without a quoted part's quotes */
#define ADDR_DOMAIN_MAX 255 /* 4.5.3.1.2: a hostname (HELO, rules) */

enum addr_status {
	ADDR_OK = 0,
	ADDR_SYNTAX,     /* 501 5.1.7 / 5.1.3 */
	ADDR_TOOLONG,    /* 501 5.1.3 */
	ADDR_ROUTE,      /* source route "@a,@b:x@y": refused */
	ADDR_NODOMAIN,   /* no "@domain" */
	ADDR_BADDOMAIN,  /* not a hostname or address literal */
	ADDR_8BIT,       /* non-ASCII without SMTPUTF8 */
	ADDR_NULL,       /* "<>" where a mailbox is required */
	ADDR_UNSAFE,     /* quoted local part holding a space, '<' or '>' */
	ADDR_BADUTF8,    /* 8-bit bytes that are not UTF-8 (RFC 6531 3.3) */
};

/* Parse the path that starts at s (just after "FROM:" or "TO:", spaces
 * allowed).  On ADDR_OK the mailbox (addr_canonical) is in out, ""
 * for the null path "<>" when allow_null, and *rest points at the ESMTP
 * parameters (leading spaces skipped). */
enum addr_status addr_parse_path(const char *s, int allow_null, int utf8,
				 char *out, size_t outsz, const char **rest);

/* The mailbox "local@domain" (no brackets) as every part accepts it:
 * local part a dot-string or a quoted-string of at most ADDR_LOCAL_MAX
 * (plus its quotes), domain a hostname or address literal, ADDR_MAX in
 * all, no control byte anywhere, 8-bit only when utf8 and then valid
 * UTF-8 (RFC 3629; later parts put it in DNS queries, log lines and
 * metric labels that must be UTF-8).  A quoted local
 * part may not hold a space, '<' or '>' (RFC 5321 allows them): each
 * would end a path, a log field or a command line somewhere after
 * relay-smtpd, and no real sender needs them. */
enum addr_status addr_mailbox_check(const char *mbox, int utf8);

/* The one form of a mailbox that passed addr_mailbox_check, in place
 * (never longer): the domain lowercased, and a quoted local part
 * unquoted when it is a dot-string without its quotes and quoted-pairs
 * ("mailer", "mail\er": mailer; RFC 5321 4.1.2), else quoted with a
 * backslash only before '"' and '\'.  The case of the local part is
 * kept: it is the next hop's to interpret (users.cdb lookups lowercase
 * it themselves).  Every decision keys on this form and the envelope
 * goes on in it, so the next hop sees the mailbox that was counted. */
void addr_canonical(char *mbox);

/* Human text for a status (no code). */
const char *addr_status_text(enum addr_status st);

/* The domain of a mailbox ("" when none): the text after the last '@'. */
const char *addr_domain(const char *mailbox);

/* 1 when d is a syntactically valid hostname (LDH labels, no trailing dot;
 * 8-bit bytes, a U-label's, only as valid UTF-8) or, when literal_ok, an address literal "[1.2.3.4]" / "[IPv6:...]". */
int addr_domain_valid(const char *d, int literal_ok);

/* Lowercase an ASCII string in place. */
void addr_lower(char *s);

/* A domain as every key on it holds it (relay-send's destinations,
 * relay-remote's MTA-STS memo and caches): the whole of it ASCII-
 * lowercased, an address literal's "IPv6:" tag and hex digits too (both
 * case-insensitive, RFC 5321 2.4), so that one domain in any case is
 * one key; 8-bit bytes (a U-label's) kept.  0, or -1 when it does not
 * fit in n (> 0) bytes: out then holds as much as fits, which is another
 * domain's key (a cache must not use it). */
int addr_domain_key(const char *domain, char *out, size_t n);

#endif
