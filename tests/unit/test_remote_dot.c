// links: send/remote_dot.c
/* test_remote_dot.c: dot-stuffing and CRLF normalisation of the message,
 * whole and split into chunks at every possible boundary; the raw form
 * for BDAT (the same lines, not stuffed, no end line). */
#include "../../send/remote.h"
#include "t.h"

static const struct {
	const char *name, *in, *out;
} cases[] = {
	{ "empty", "", ".\r\n" },
	{ "one line", "a\r\n", "a\r\n.\r\n" },
	{ "no final CRLF", "a", "a\r\n.\r\n" },
	{ "leading dot", ".a\r\n", "..a\r\n.\r\n" },
	{ "lone dot line", "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n" },
	{ "dot at start", ".\r\n", "..\r\n.\r\n" },
	{ "dots mid line", "a.b\r\n..\r\n", "a.b\r\n...\r\n.\r\n" },
	{ "bare LF", "a\nb\n", "a\r\nb\r\n.\r\n" },
	{ "bare CR", "a\rb", "a\r\nb\r\n.\r\n" },
	{ "smuggling", "x\n.\ny", "x\r\n..\r\ny\r\n.\r\n" },
	{ "CR CR LF", "a\r\r\n", "a\r\n\r\n.\r\n" },
	{ "dot after bare CR", "a\r.b\r\n", "a\r\n..b\r\n.\r\n" },
	{ "blank lines", "\r\n\r\n", "\r\n\r\n.\r\n" },
	{ "ends with CR", "a\r", "a\r\n.\r\n" },
};

static void run(const char *in, size_t n, size_t split, char *out)
{
	struct remote_dot d;
	size_t o = 0;
	remote_dot_init(&d);
	for (size_t off = 0; off < n; off += split) {
		size_t k = n - off < split ? n - off : split;
		o += remote_dot_stuff(&d, in + off, k, out + o);
	}
	o += remote_dot_end(&d, out + o);
	out[o] = '\0';
}

/* Reference: what a receiver gets back (split at CRLF, drop one leading
 * dot, stop at the lone "."), and what the input means (any of CRLF, LF,
 * CR ends a line; an unterminated last line is a line). */
static size_t unstuff(const char *s, size_t n, char *out)
{
	size_t o = 0, i = 0;
	while (i < n) {
		const char *e = memmem(s + i, n - i, "\r\n", 2);
		size_t len = (size_t)(e - (s + i));
		if (len == 1 && s[i] == '.')
			break;
		size_t skip = s[i] == '.';
		memcpy(out + o, s + i + skip, len - skip);
		o += len - skip;
		out[o++] = '\n';
		i += len + 2;
	}
	return o;
}

static size_t normalise(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		out[o++] = s[i] == '\r' ? '\n' : s[i];
	}
	if (o && out[o - 1] != '\n')
		out[o++] = '\n';
	return o;
}

/* Random messages of '.', 'a', CR, LF in random chunks: the receiver
 * must get exactly the lines that went in, and never a bare CR or LF. */
static void test_random(void)
{
	static char in[300], out[700], back[700], want[700];
	unsigned seed = 7;
	int ok = 1, bare = 0;

	for (int round = 0; round < 20000 && ok; round++) {
		size_t n = (seed = seed * 1103515245u + 12345u) >> 16 & 255, o = 0;
		struct remote_dot d;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = ".a\r\n"[(seed >> 16) & 3];
		}
		remote_dot_init(&d);
		for (size_t off = 0, k; off < n; off += k) {
			seed = seed * 1103515245u + 12345u;
			k = 1 + ((seed >> 16) % 7);
			if (k > n - off)
				k = n - off;
			o += remote_dot_stuff(&d, in + off, k, out + o);
		}
		o += remote_dot_end(&d, out + o);
		for (size_t i = 0; i < o; i++)
			bare |= (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) ||
				(out[i] == '\r' && (i + 1 == o || out[i + 1] != '\n'));
		size_t bn = unstuff(out, o, back), wn = normalise(in, n, want);
		ok = bn == wn && memcmp(back, want, bn) == 0;
	}
	T_CHECK("random messages: lines arrive unchanged", ok);
	T_CHECK("random messages: no bare CR or LF on the wire", !bare);
}

/* What BDAT gets: the DATA form without its end line and without the
 * dot each stuffed line got. */
static void raw_expected(const char *data, char *out)
{
	size_t n = strlen(data) - 3, o = 0; /* the ".\r\n" */

	for (size_t i = 0; i < n; i++) {
		if (data[i] == '.' && (i == 0 || data[i - 1] == '\n'))
			i++;
		out[o++] = data[i];
	}
	out[o] = '\0';
}

static void test_raw(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].in);
		char want[256], out[256], name[128];
		for (size_t split = 1; split <= (n ? n : 1); split++) {
			struct remote_dot d;
			size_t o = 0;
			remote_dot_init_raw(&d);
			for (size_t off = 0; off < n; off += split)
				o += remote_dot_stuff(&d, cases[i].in + off,
						      n - off < split ? n - off : split,
						      out + o);
			o += remote_dot_tail(&d, out + o);
			out[o] = '\0';
			raw_expected(cases[i].out, want);
			snprintf(name, sizeof name, "raw %s (chunks of %zu)",
				 cases[i].name, split);
			T_STREQ(name, out, want);
		}
	}
}

int main(void)
{
	char out[256], name[128];

	test_raw();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].in);
		run(cases[i].in, n, n ? n : 1, out);
		T_STREQ(cases[i].name, out, cases[i].out);
		for (size_t split = 1; split < n; split++) {
			run(cases[i].in, n, split, out);
			snprintf(name, sizeof name, "%s (chunks of %zu)",
				 cases[i].name, split);
			T_STREQ(name, out, cases[i].out);
		}
	}
	/* the documented bound: 2*n+2 bytes for any chunk */
	{
		struct remote_dot d;
		remote_dot_init(&d);
		remote_dot_stuff(&d, "\r", 1, out);
		size_t o = remote_dot_stuff(&d, ".", 1, out);
		T_CHECK("worst case within 2n+2", o <= 2 * 1 + 2);
	}
	test_random();
	return t_done();
}
