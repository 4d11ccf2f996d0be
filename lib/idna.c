/* idna.c: a domain's A-label (idna.h), with libidn2. */
#include "idna.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int all_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

enum idna_status idna_alabel(const char *domain, char *out, size_t n,
			     const char **why)
{
	const char *ignored;
	char *a = NULL;
	int rc, fits;

	if (!why)
		why = &ignored;
	*why = "";
	/* an ASCII name goes as it is: IDNA would refuse what the DNS
	 * holds and mail uses (an underscore, an address literal) */
	if (!all_ascii(domain)) {
		rc = idn2_to_ascii_8z(domain, &a,
				      IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK) {
			*why = idn2_strerror(rc);
			return rc == IDN2_MALLOC ? IDNA_TEMP : IDNA_INVALID;
		}
	}
	fits = (size_t)snprintf(out, n, "%s", a ? a : domain) < n;
	free(a);
	if (!fits)
		*why = "name too long";
	return fits ? IDNA_OK : IDNA_INVALID;
}
