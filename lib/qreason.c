/* qreason.c: relay-queue's refusal reasons (qreason.h). */
#include "qreason.h"

#include <errno.h>
#include <string.h>

static const char *const names[] = {
	[QREASON_NONE] = "",           [QREASON_ENVELOPE] = "envelope",
	[QREASON_TOOBIG] = "toobig",   [QREASON_ADMIT] = "admit",
	[QREASON_REQUEST] = "request", [QREASON_NOSPACE] = "nospace",
	[QREASON_IO] = "io",           [QREASON_TIMEOUT] = "timeout",
	[QREASON_SIGN] = "sign",       [QREASON_SPAM] = "spam",
	[QREASON_SCAN] = "scan",       [QREASON_BUSY] = "busy",
};

const char *qreason_name(enum qreason r)
{
	return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "";
}

enum qreason qreason_parse(const char *s)
{
	for (unsigned i = 1; s && i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i]) == 0)
			return (enum qreason)i;
	return QREASON_NONE;
}

enum qreason qreason_errno(int e)
{
	return e == ENOSPC || e == EDQUOT ? QREASON_NOSPACE : QREASON_IO;
}
