/* idna.h: the A-label form of a domain (RFC 5890, "xn--..."), the name
 * the DNS holds for an internationalised domain.  A recipient's domain
 * arrives as the client wrote it (a U-label under SMTPUTF8, RFC 6531
 * 3.2); every DNS lookup, and anything keyed on the DNS name, uses
 * this form. */
#ifndef IDNA_H
#define IDNA_H

#include <stddef.h>

enum idna_status {
	IDNA_OK = 0,
	IDNA_INVALID,   /* no A-label exists for it: permanent */
	IDNA_TEMP,      /* out of memory: try again later */
};

/* The A-label form of domain into out (n bytes).  An ASCII domain is
 * copied as it is; a non-ASCII one is mapped as UTS #46 (non-
 * transitional: case folded, NFC) and converted by libidn2.  *why (may
 * be NULL) gets libidn2's reason on a failure; an out too small is
 * IDNA_INVALID too. */
enum idna_status idna_alabel(const char *domain, char *out, size_t n,
			     const char **why);

#endif
