/* legacy.h: the legacy devices of relay.conf (legacy_clients): printers,
 * scanners and other old clients that speak only TLS 1.0/1.1 or old
 * ciphers, send bare LF line ends, or cannot do TLS at all.  Only a
 * client whose address is in one of these ranges gets the legacy_*
 * settings (relay-smtpd: the TLS context, bare LF; relay-policy: a
 * rule's tls=yes waived with legacy_plain); everyone else keeps TLS 1.2+
 * and CRLF-only.  makecdb checks the list and warns about legacy_plain. */
#ifndef LEGACY_H
#define LEGACY_H

#include <stddef.h>

#include "ipaddr.h"

#define LEGACY_CIDRS_MAX 256

/* Parse a list of addresses and CIDR ranges (space or comma separated)
 * into out[max]; the count, or -1 with the bad word in err. */
int legacy_parse(const char *list, struct cidr *out, size_t max, char *err,
		 size_t errsz);
/* 1 when ip (text) is in cf.legacy_clients.  The list is parsed at the
 * first call (relay.conf does not change under a running daemon); a bad
 * list matches nothing (logged once; makecdb refuses it). */
int legacy_client(const char *ip);
/* The TLS version of legacy_tls_min as OpenSSL's number (TLS1_VERSION
 * ...), 0 when not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3. */
int legacy_tls_version(const char *name);

#endif
