/* t.h: the unit test harness.  Each test file has a table of cases or
 * calls T_CHECK; every check prints "PASS name" or "FAIL name (file:line)"
 * and tests/run counts the lines.  main() returns t_done(). */
#ifndef T_H
#define T_H

#include <stdio.h>
#include <string.h>

static int t_failed_count;

/* Undefined behaviour stops the test (the build's UBSan only reports by
 * default), so a test that reaches it fails instead of passing noisily. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define T_CHECK(name, cond)                                                   \
	do {                                                                  \
		if (cond) {                                                   \
			printf("PASS %s\n", (name));                          \
		} else {                                                      \
			printf("FAIL %s (%s:%d: %s)\n", (name), __FILE__,     \
			       __LINE__, #cond);                              \
			t_failed_count++;                                     \
		}                                                             \
	} while (0)

#define T_STREQ(name, got, want)                                              \
	do {                                                                  \
		const char *t_g = (got), *t_w = (want);                       \
		if (t_g && t_w && strcmp(t_g, t_w) == 0) {                    \
			printf("PASS %s\n", (name));                          \
		} else {                                                      \
			printf("FAIL %s (%s:%d: got \"%s\", want \"%s\")\n",  \
			       (name), __FILE__, __LINE__,                    \
			       t_g ? t_g : "(null)", t_w ? t_w : "(null)");   \
			t_failed_count++;                                     \
		}                                                             \
	} while (0)

static inline int t_done(void)
{
	fflush(stdout);
	return t_failed_count ? 1 : 0;
}

#endif
