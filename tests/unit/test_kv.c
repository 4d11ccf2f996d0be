// links:
/* test_kv.c: key=value payloads.  A table of payloads for kv_parse (good
 * and hostile), then the builder: a value with newlines or NULs must come
 * back as one value, never as a forged extra key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv.h"
#include "ns.h"
#include "t.h"

static const struct {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	int rc;
	size_t npairs;
	const char *key0, *val0;
} parse_cases[] = {
	{ "two pairs", "phase=rcpt\nip=192.0.2.1\n", 0, 0, 2, "phase", "rcpt" },
	{ "empty payload", "", 0, 0, 0, NULL, NULL },
	{ "empty value", "from=\n", 0, 0, 1, "from", "" },
	{ "value with '='", "text=a=b\n", 0, 0, 1, "text", "a=b" },
	{ "value with spaces", "text=5.7.1 no way\n", 0, 0, 1, "text",
	  "5.7.1 no way" },
	{ "digits and _ in key", "a_1=x\n", 0, 0, 1, "a_1", "x" },
	{ "repeated key", "rcpt=a\nrcpt=b\n", 0, 0, 2, "rcpt", "a" },
	{ "no final newline", "phase=rcpt", 0, -1, 0, NULL, NULL },
	{ "no '='", "phase\n", 0, -1, 0, NULL, NULL },
	{ "empty key", "=x\n", 0, -1, 0, NULL, NULL },
	{ "upper-case key", "Phase=x\n", 0, -1, 0, NULL, NULL },
	{ "key with '-'", "a-b=x\n", 0, -1, 0, NULL, NULL },
	{ "key with space", "a b=x\n", 0, -1, 0, NULL, NULL },
	{ "space before '='", "a =x\n", 0, -1, 0, NULL, NULL },
	{ "empty line", "a=x\n\n", 0, -1, 0, NULL, NULL },
	{ "CR left in value", "a=x\r\n", 0, 0, 1, "a", "x\r" },
	{ "NUL in value", "a=x\0y\n", 6, -1, 0, NULL, NULL },
	{ "NUL in key", "a\0b=x\n", 6, -1, 0, NULL, NULL },
	{ "64-char key",
	  "k234567890123456789012345678901234567890123456789012345678901234=v\n",
	  0, 0, 1,
	  "k234567890123456789012345678901234567890123456789012345678901234",
	  "v" },
	{ "65-char key",
	  "k2345678901234567890123456789012345678901234567890123456789012345=v\n",
	  0, -1, 0, NULL, NULL },
};

static void test_parse_table(void)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof *parse_cases; i++) {
		static struct kv_msg m;
		size_t len = parse_cases[i].len ? parse_cases[i].len
						: strlen(parse_cases[i].in);
		char *buf = malloc(len + 1);
		int rc;

		memcpy(buf, parse_cases[i].in, len + 1);
		rc = kv_parse(&m, buf, len);
		if (parse_cases[i].rc < 0) {
			T_CHECK(parse_cases[i].name, rc == -1);
		} else {
			T_CHECK(parse_cases[i].name,
				rc == 0 && m.n == parse_cases[i].npairs &&
				    (m.n == 0 ||
				     (!strcmp(m.pair[0].key, parse_cases[i].key0) &&
				      !strcmp(m.pair[0].value,
					      parse_cases[i].val0))));
		}
		free(buf);
	}
}

/* n lines "k=v\n" in a fresh buffer; parse result. */
static int parse_n_lines(size_t n, struct kv_msg *m)
{
	char *buf = malloc(n * 4 + 1), *p = buf;
	int rc;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, "k=v\n", 4);
		p += 4;
	}
	rc = kv_parse(m, buf, n * 4);
	free(buf);
	return rc;
}

static void test_maxpairs(void)
{
	static struct kv_msg m;
	T_CHECK("KV_MAXPAIRS lines accepted",
		parse_n_lines(KV_MAXPAIRS, &m) == 0 && m.n == KV_MAXPAIRS);
	T_CHECK("KV_MAXPAIRS+1 lines refused",
		parse_n_lines(KV_MAXPAIRS + 1, &m) == -1);
}

/* Build with hostile values, send through a pipe as a netstring, parse. */
static void test_build_roundtrip(void)
{
	static struct kv_msg m;
	struct kv k;
	struct ns_reader r;
	const char *all[4];
	char *pl;
	size_t len;
	int p[2];

	kv_init(&k);
	kv_add(&k, "phase", "helo");
	kv_add(&k, "helo", "evil\nuser=admin\nx");
	kv_addn(&k, "text", "a\0b\nc", 5);
	kv_add(&k, "empty", NULL);
	kv_addf(&k, "size", "%d", 12345);
	kv_add(&k, "rcpt", "a@b");
	kv_add(&k, "rcpt", "c@d");
	if (pipe(p) < 0)
		return;
	T_CHECK("kv_send", kv_send(&k, p[1]) == 0);
	close(p[1]);
	ns_reader_init(&r, p[0]);
	T_CHECK("frame read", ns_reader_next(&r, &pl, &len) == 1);
	T_CHECK("frame parses", kv_parse(&m, pl, len) == 0);
	T_CHECK("seven pairs, no forged ones", m.n == 7);
	T_CHECK("no user key injected", kv_get(&m, "user") == NULL);
	T_STREQ("newlines in value become spaces", kv_get(&m, "helo"),
		"evil user=admin x");
	T_STREQ("NUL and newline become spaces", kv_get(&m, "text"), "a b c");
	T_STREQ("NULL value is empty", kv_get(&m, "empty"), "");
	T_STREQ("kv_addf", kv_get(&m, "size"), "12345");
	T_STREQ("kv_get_or default", kv_get_or(&m, "nope", "dflt"), "dflt");
	T_CHECK("kv_get_all", kv_get_all(&m, "rcpt", all, 4) == 2 &&
				      !strcmp(all[0], "a@b") &&
				      !strcmp(all[1], "c@d"));
	T_CHECK("kv_get_all bounded by max",
		kv_get_all(&m, "rcpt", all, 1) == 1);
	ns_reader_free(&r);
	close(p[0]);
	kv_free(&k);
}

static void test_build_limits(void)
{
	struct kv k;
	char *big = malloc(NS_MAX);
	int p[2];

	memset(big, 'x', NS_MAX);
	kv_init(&k);
	kv_addn(&k, "v", big, NS_MAX - 3); /* "v=" + value + "\n" = NS_MAX */
	T_CHECK("value filling NS_MAX exactly", !k.failed && k.len == NS_MAX);
	kv_add(&k, "x", "");
	T_CHECK("one more pair fails", k.failed);
	if (pipe(p) == 0) {
		T_CHECK("failed kv not sent", kv_send(&k, p[1]) == -1);
		close(p[0]);
		close(p[1]);
	}
	kv_reset(&k);
	T_CHECK("reset clears failure", !k.failed && k.len == 0);
	big[5000] = '\0';
	kv_addf(&k, "v", "%s", big);
	T_CHECK("kv_addf over its buffer fails, not truncates", k.failed);
	kv_free(&k);
	free(big);
}

int main(void)
{
	test_parse_table();
	test_maxpairs();
	test_build_roundtrip();
	test_build_limits();
	return t_done();
}
