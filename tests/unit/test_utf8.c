// links:
/* test_utf8.c: lib/utf8.c, a table of byte strings with whether they are
 * UTF-8 (RFC 3629's edges: overlong forms, surrogates, past U+10FFFF,
 * cut characters) and where a string is cut to fit. */
#include <stdio.h>

#include "utf8.h"
#include "t.h"

static const struct {
	const char *s;
	int valid;
} strings[] = {
	{ "", 1 },
	{ "example.com", 1 },
	{ "caf\xc3\xa9", 1 },                 /* U+00E9 */
	{ "\xe2\x82\xac", 1 },                /* U+20AC */
	{ "\xf0\x9f\x93\xa7", 1 },            /* U+1F4E7 */
	{ "\xf4\x8f\xbf\xbf", 1 },            /* U+10FFFF, the last */
	{ "\xed\x9f\xbf", 1 },                /* U+D7FF, before the surrogates */
	{ "bad\xff.example", 0 },
	{ "\x80", 0 },                        /* a continuation alone */
	{ "caf\xc3", 0 },                     /* cut character */
	{ "\xe2\x82", 0 },
	{ "\xc3(", 0 },                       /* no continuation */
	{ "\xc0\xaf", 0 },                    /* overlong '/' */
	{ "\xc1\xbf", 0 },
	{ "\xe0\x80\xaf", 0 },                /* overlong, 3 bytes */
	{ "\xf0\x80\x80\xaf", 0 },            /* overlong, 4 bytes */
	{ "\xed\xa0\x80", 0 },                /* U+D800, a surrogate */
	{ "\xf4\x90\x80\x80", 0 },            /* U+110000 */
	{ "\xf5\x80\x80\x80", 0 },
};

static void test_valid(void)
{
	char name[100];

	for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
		snprintf(name, sizeof name, "utf8_valid case %zu: %s", i,
			 strings[i].valid ? "valid" : "invalid");
		T_CHECK(name, utf8_valid(strings[i].s) == strings[i].valid);
	}
}

static const struct {
	const char *s;
	size_t max, want;
} cuts[] = {
	{ "abc", 5, 3 },
	{ "abc", 2, 2 },
	{ "\xc3\xa9\xc3\xa9", 3, 2 },         /* not inside the second é */
	{ "\xc3\xa9\xc3\xa9", 4, 4 },
	{ "a\xf0\x9f\x93\xa7", 4, 1 },
	{ "a\xf0\x9f\x93\xa7", 5, 5 },
	{ "a\xff" "b", 2, 2 },                /* a bad byte counts as one */
	{ "\xc3\xa9", 0, 0 },
};

static void test_cut(void)
{
	char name[100];

	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		size_t got = utf8_cut(cuts[i].s, cuts[i].max);
		snprintf(name, sizeof name, "utf8_cut case %zu at %zu: %zu",
			 i, cuts[i].max, cuts[i].want);
		T_CHECK(name, got == cuts[i].want);
	}
	T_CHECK("utf8_char_len of nothing", utf8_char_len("\xc3\xa9", 0) == 0);
	T_CHECK("utf8_char_len short", utf8_char_len("\xc3\xa9", 1) == 0);
	T_CHECK("utf8_char_len of é", utf8_char_len("\xc3\xa9", 2) == 2);
}

/* What may be shown to a person as it is: letters, symbols, emoji; not
 * a C1 control, a bidi control (each range, its neighbours stay), ASCII
 * (the caller's own rule) or a byte that is no character. */
static const struct {
	const char *s;
	size_t want;
} shown[] = {
	{ "\xc3\xa9", 2 },                  /* é */
	{ "\xc2\xa0", 2 },                  /* U+00A0, after the C1 range */
	{ "\xc2\x80", 0 }, { "\xc2\x9f", 0 }, /* C1 */
	{ "\xd8\x9c", 0 }, { "\xd8\x9b", 2 }, /* U+061C; U+061B stays */
	{ "\xe2\x80\x8e", 0 }, { "\xe2\x80\x8f", 0 },
	{ "\xe2\x80\x8d", 3 },              /* U+200D (ZWJ) stays */
	{ "\xe2\x80\xaa", 0 }, { "\xe2\x80\xae", 0 },
	{ "\xe2\x80\xaf", 3 },
	{ "\xe2\x81\xa6", 0 }, { "\xe2\x81\xa9", 0 },
	{ "\xe2\x81\xaa", 3 },
	{ "\xf0\x9f\x93\xa7", 4 },
	{ "a", 0 }, { "\xff", 0 }, { "\xe2\x80", 0 },
};

static void test_shown(void)
{
	char name[100];

	for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
		snprintf(name, sizeof name, "utf8_shown_len case %zu: %zu", i,
			 shown[i].want);
		T_CHECK(name, utf8_shown_len(shown[i].s, strlen(shown[i].s)) ==
				      shown[i].want);
	}
}

int main(void)
{
	test_valid();
	test_cut();
	test_shown();
	return t_done();
}
