/* date822.h: dates in RFC 5322 form ("Mon, 23 Nov 2026 11:15:01 +0000"),
 * for Received headers and DSNs, independent of the locale. */
#ifndef DATE822_H
#define DATE822_H

#include <stddef.h>

void date822_format(long long t, char *buf, size_t n);

#endif
