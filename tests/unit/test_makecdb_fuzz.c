// links: conf/makecdb_lex.c conf/makecdb_parse.c conf/makecdb_check.c conf/makecdb_dkim.c
/* test_makecdb_fuzz.c: random relay.rules texts built from the language's
 * own words, odd values and random bytes (a fixed seed, so a failure
 * repeats).  Under ASan/UBSan: no crash, every diagnostic has the form
 * "file:line:column: error|warning: ...", line numbers stay within the
 * file, and a file with an unknown statement always has an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../conf/makecdb.h"
#include "t.h"

static unsigned long seed = 12345;

static unsigned rnd(unsigned n)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((seed >> 33) % n);
}

static const char *const words[] = {
	"customer", "domain", "user", "rule", "ip", "route", "acme", "beta",
	"example.com", "Example.COM.", "a@example.com", "x%y@example.com",
	"licenses=", "paid=", "suspended=", "daily=", "peak=", "customer=",
	"hash=", "senders=", "auth=", "tls=", "enabled=", "disabled", "rcpt",
	"sender", "default", "mx", "[mx.example.org]:25", "host:99999",
	"10.0.0.0/8", "10.0.0.1", "::1", "2001:db8::/112", "1.2.3.4/33", "=",
	"yes", "no", "any", "domain", "registered", "ip", "smtp", "both",
	"$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74",
	"#", "-1", "99999999999999999999", "", "lan", "[", "]", "@", "\"q\"",
};
#define NWORDS (sizeof words / sizeof words[0])

static size_t gen_line(char *buf, size_t cap)
{
	size_t n = 0;
	int count = (int)rnd(8);

	for (int i = 0; i < count && n + 200 < cap; i++) {
		if (rnd(10) == 0) { /* random bytes, NUL and newline excluded */
			for (int k = (int)rnd(12); k > 0; k--) {
				char c = (char)(rnd(255) + 1);
				buf[n++] = c == '\n' ? ' ' : c;
			}
		} else {
			const char *w = words[rnd(NWORDS)];
			n += (size_t)snprintf(buf + n, cap - n, "%s", w);
			if (w[strlen(w) ? strlen(w) - 1 : 0] == '=')
				n += (size_t)snprintf(buf + n, cap - n, "%s",
						      words[rnd(NWORDS)]);
		}
		buf[n++] = rnd(6) ? ' ' : '\t';
	}
	buf[n++] = '\n';
	buf[n] = '\0';
	return n;
}

/* Every line of out is "f:L:C: error|warning: ..." with 1 <= L <= lines. */
static int diags_ok(const char *out, int lines)
{
	for (const char *p = out; *p;) {
		int l, c, used = 0;
		char kind[8];
		if (sscanf(p, "f:%d:%d: %7[a-z]:%n", &l, &c, kind, &used) != 3 ||
		    !used || l < 1 || l > lines || c < 1 ||
		    (strcmp(kind, "error") && strcmp(kind, "warning")))
			return 0;
		p = strchr(p, '\n');
		if (!p)
			return 0;
		p++;
	}
	return 1;
}

int main(void)
{
	int rounds = 0, format_ok = 1, unknown_ok = 1;
	static char text[64 * 1024];

	for (int round = 0; round < 3000; round++) {
		size_t n = 0;
		int lines = 1 + (int)rnd(30), unknown = 0;
		for (int i = 0; i < lines; i++) {
			size_t start = n;
			n += gen_line(text + n, sizeof text - n);
			if (n - start > 7 && rnd(20) == 0) {
				memcpy(text + start, "bogus ", 6);
				unknown = 1;
			}
		}
		char *out = NULL;
		size_t olen;
		FILE *f = open_memstream(&out, &olen);
		struct mk m;
		mk_init(&m, "f");
		m.diag = f;
		mk_parse_text(&m, "f", text);
		if (!m.errors)
			mk_check(&m);
		fclose(f);
		if (!diags_ok(out, lines)) {
			if (format_ok)
				printf("   bad diagnostics:\n%s", out);
			format_ok = 0;
		}
		if (unknown && !m.errors)
			unknown_ok = 0;
		mk_free(&m);
		free(out);
		rounds++;
	}
	T_CHECK("fuzz: 3000 random files parsed (ASan/UBSan abort on a fault)",
		rounds == 3000);
	T_CHECK("fuzz: every diagnostic is file:line:column: kind: text", format_ok);
	T_CHECK("fuzz: an unknown statement is always an error", unknown_ok);
	return t_done();
}
