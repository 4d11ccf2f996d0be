/* test_log_field.c: peer-supplied values in log lines (lib/log.h
 * log_field): a table of values, their encodings and the way back
 * (test_ctl_log.c has relayctl log reading such lines). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "t.h"

static const struct {
	const char *in, *out;
} cases[] = {
	{ "plain.example.com", "plain.example.com" },
	{ "with space", "with space" },
	{ "a from=<x@y>", "a from%3D%3Cx@y%3E" },
	{ "[10.9.8.7]", "%5B10.9.8.7%5D" },
	{ "100%", "100%25" },
	{ "esc\x1b[2J", "esc%1B%5B2J" },
	{ "cr\rlf\n", "cr%0Dlf%0A" },
	{ "j\xc3\xb6rg", "j%C3%B6rg" },
	{ "del\x7f", "del%7F" },
};

static void test_table(void)
{
	char out[128], name[200];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		log_field(out, sizeof out, cases[i].in, strlen(cases[i].in));
		snprintf(name, sizeof name, "log_field case %zu", i);
		T_STREQ(name, out, cases[i].out);
		log_field_decode(out, 0);
		snprintf(name, sizeof name, "log_field case %zu decodes back", i);
		T_STREQ(name, out, cases[i].in);
	}
	log_field(out, 5, "ab<cd", 5);
	T_STREQ("cut at a whole %XX", out, "ab");
	strcpy(out, "a%3Cb%1B%zz%4");
	log_field_decode(out, 1);
	T_STREQ("printable only: escape stays encoded, junk kept", out,
		"a<b%1B%zz%4");
}

int main(void)
{
	test_table();
	return t_done();
}
