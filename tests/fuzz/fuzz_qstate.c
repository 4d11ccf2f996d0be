/* fuzz_qstate.c: qstate_apply (the per-recipient state lines replayed at
 * start-up) on arbitrary lines; the first byte is the recipient count.
 * Whatever is applied, every recipient keeps a known status and a
 * terminated text, and a final status (D, B) never goes back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qstate s;
	size_t nrcpt, i = 1;
	char *text, *line, *save = NULL;
	char *final;

	if (size == 0)
		return 0;
	nrcpt = 1 + data[0] % 8;
	if (qstate_init(&s, nrcpt) < 0)
		abort();
	final = calloc(nrcpt, 1);
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	for (line = strtok_r(text, "\n", &save); line && i++ < 10000;
	     line = strtok_r(NULL, "\n", &save)) {
		qstate_apply(&s, line);
		for (size_t k = 0; k < nrcpt; k++) {
			char st = s.r[k].status;
			if (!strchr("PTDB", st) || st == '\0' ||
			    !memchr(s.r[k].text, '\0', sizeof s.r[k].text))
				abort();
			if (final[k] && st != final[k])
				abort();
			if (st == 'D' || st == 'B')
				final[k] = st;
		}
	}
	qstate_pending(&s);
	free(text);
	free(final);
	qstate_free(&s);
	return 0;
}
