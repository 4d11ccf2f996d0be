// links: send/remote_dot.c
/* test_remote_dot.c: dot-stuffing and CRLF normalisation of the message,
 * whole and split into chunks at every possible boundary. */
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

int main(void)
{
	char out[256], name[128];

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
	return t_done();
}
