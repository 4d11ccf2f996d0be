// links:
/* test_cfg.c: the "key = value" reader over a small settings table: a
 * table of file contents with the error (file:line and reason) expected,
 * or the values that must result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "t.h"

static char *s_name;
static long i_port, i_neg;
static int b_flag;

static const struct cfg_item tab[] = {
	{ "name", CFG_STR, "relay.example", &s_name, 0, 0 },
	{ "port", CFG_INT, "25", &i_port, 1, 65535 },
	{ "offset", CFG_INT, "-5", &i_neg, -10, 10 },
	{ "flag", CFG_BOOL, "no", &b_flag, 0, 0 },
};
#define NTAB (sizeof tab / sizeof *tab)

static const struct {
	const char *name, *file;
	const char *err;        /* substring of the error, NULL: success */
	const char *want_name;  /* values after success */
	long want_port;
	int want_flag;
} cases[] = {
	{ "empty file gives defaults", "", NULL, "relay.example", 25, 0 },
	{ "comments and blanks", "# c\n\n   \n  # indented\n", NULL,
	  "relay.example", 25, 0 },
	{ "spaces around", "  port   =   2525  \nname=a b c \n", NULL, "a b c",
	  2525, 0 },
	{ "no spaces", "port=587\n", NULL, "relay.example", 587, 0 },
	{ "bool yes", "flag = yes\n", NULL, "relay.example", 25, 1 },
	{ "bool TRUE", "flag = TRUE\n", NULL, "relay.example", 25, 1 },
	{ "bool 1", "flag = 1\n", NULL, "relay.example", 25, 1 },
	{ "later line wins", "port = 1\nport = 2\n", NULL, "relay.example", 2,
	  0 },
	{ "empty string value", "name =\n", NULL, "", 25, 0 },
	{ "'=' in value", "name = a=b\n", NULL, "a=b", 25, 0 },
	{ "no final newline", "port = 26", NULL, "relay.example", 26, 0 },
	{ "CRLF line", "port = 27\r\n", NULL, "relay.example", 27, 0 },
	{ "at max", "port = 65535\n", NULL, "relay.example", 65535, 0 },
	{ "at min", "port = 1\n", NULL, "relay.example", 1, 0 },
	{ "unknown key with line", "\n# x\nprot = 25\n", "F:3: unknown setting 'prot'", NULL, 0, 0 },
	{ "no '='", "port 25\n", "F:1: expected key = value", NULL, 0, 0 },
	{ "over max", "port = 65536\n", "F:1: port: 65536 is outside 1..65535", NULL, 0, 0 },
	{ "under min", "port = 0\n", "F:1: port: 0 is outside", NULL, 0, 0 },
	{ "negative under min", "offset = -11\n", "F:1: offset: -11 is outside", NULL, 0, 0 },
	{ "not a number", "port = 25x\n", "F:1: port: not a number", NULL, 0, 0 },
	{ "empty number", "port =\n", "F:1: port: not a number", NULL, 0, 0 },
	{ "hex refused", "port = 0x19\n", "F:1: port: not a number", NULL, 0, 0 },
	{ "overflow", "port = 99999999999999999999999\n", "not a number", NULL, 0, 0 },
	{ "comment after a number", "port = 25 # smtp\n", NULL,
	  "relay.example", 25, 0 },
	{ "comment after a string", "name = relay.example.com   # the PTR\n",
	  NULL, "relay.example.com", 25, 0 },
	{ "comment after a tab", "name = a b\t#c\n", NULL, "a b", 25, 0 },
	{ "a value that is a comment is empty", "name = # none\n", NULL, "",
	  25, 0 },
	{ "'#' inside a word kept", "name = a#b # c\n", NULL, "a#b", 25, 0 },
	{ "bad bool", "flag = maybe\n", "F:1: flag: expected yes or no", NULL, 0, 0 },
	{ "case of key matters", "Port = 25\n", "unknown setting 'Port'", NULL, 0, 0 },
	{ "error on line 5 after good lines",
	  "port = 1\nflag = no\nname = x\n\nport = -1\n", "F:5:", NULL, 0, 0 },
};

/* Write text to a fresh file in dir, load it; the error text is returned
 * with the path replaced by "F". */
static int load(const char *dir, const char *text, char *err, size_t errsz)
{
	char path[300], raw[600];
	FILE *f;
	int rc;

	snprintf(path, sizeof path, "%s/relay.conf", dir);
	f = fopen(path, "w");
	if (!f)
		return -2;
	fputs(text, f);
	fclose(f);
	raw[0] = '\0';
	rc = cfg_load(path, tab, NTAB, 0, raw, sizeof raw);
	if (strncmp(raw, path, strlen(path)) == 0)
		snprintf(err, errsz, "F%s", raw + strlen(path));
	else
		snprintf(err, errsz, "%s", raw);
	return rc;
}

static void test_table(const char *dir)
{
	char err[600], name[200];
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int rc = load(dir, cases[i].file, err, sizeof err);
		if (cases[i].err) {
			T_CHECK(cases[i].name,
				rc == -1 && strstr(err, cases[i].err) != NULL);
			if (rc != -1 || !strstr(err, cases[i].err))
				printf("  # got \"%s\"\n", err);
			continue;
		}
		T_CHECK(cases[i].name,
			rc == 0 && s_name && !strcmp(s_name, cases[i].want_name) &&
			    i_port == cases[i].want_port &&
			    b_flag == cases[i].want_flag);
		snprintf(name, sizeof name, "%s: untouched default", cases[i].name);
		T_CHECK(name, i_neg == -5);
	}
}

static void test_missing_and_long(const char *dir)
{
	char err[600], path[300], *big;
	size_t n = 10000;

	i_port = 0;
	T_CHECK("missing file, missing_ok: defaults",
		cfg_load("/nonexistent/relay.conf", tab, NTAB, 1, err,
			 sizeof err) == 0 &&
		    i_port == 25);
	T_CHECK("missing file, not ok: error names it",
		cfg_load("/nonexistent/relay.conf", tab, NTAB, 0, err,
			 sizeof err) == -1 &&
		    strstr(err, "/nonexistent/relay.conf") != NULL);
	big = malloc(n + 20);
	memcpy(big, "name = ", 7);
	memset(big + 7, 'x', n);
	strcpy(big + 7 + n, "\n");
	snprintf(path, sizeof path, "%s", dir);
	T_CHECK("line too long refused",
		load(path, big, err, sizeof err) == -1 &&
		    strstr(err, "F:1: line too long") != NULL);
	free(big);
}

/* The first error is the answer, but the good lines after it count:
 * relayctl stop finds run_dir in a relay.conf with a typo above it. */
static void test_past_error(const char *dir)
{
	char err[600];
	int rc;

	i_port = 0;
	b_flag = 0;
	rc = load(dir, "prot = 1\nport = 2\nflag = maybe\nflag = yes\n", err,
		  sizeof err);
	T_CHECK("two bad lines: the first one's error",
		rc == -1 && strstr(err, "F:1: unknown setting 'prot'") != NULL);
	T_CHECK("the good lines after a bad one are applied",
		i_port == 2 && b_flag == 1);
}

static void test_set(void)
{
	char err[200];
	T_CHECK("cfg_set int", cfg_set(&tab[1], "100", err, sizeof err) == 0 &&
				       i_port == 100);
	T_CHECK("cfg_set leaves value on error",
		cfg_set(&tab[1], "100000", err, sizeof err) == -1 &&
		    i_port == 100);
	T_CHECK("cfg_set string copies",
		cfg_set(&tab[0], "copy", err, sizeof err) == 0 &&
		    !strcmp(s_name, "copy"));
}

int main(void)
{
	char dir[] = "/tmp/relaybox-test-cfg-XXXXXX", cmd[100];

	if (!mkdtemp(dir)) {
		printf("FAIL mkdtemp\n");
		return 1;
	}
	test_table(dir);
	test_missing_and_long(dir);
	test_past_error(dir);
	test_set();
	free(s_name);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("FAIL cleanup\n");
	return t_done();
}
