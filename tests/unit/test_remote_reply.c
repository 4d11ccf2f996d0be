// links: send/remote_reply.c
/* test_remote_reply.c: SMTP reply parsing, well-formed and hostile, both
 * line by line (remote_reply_feed) and from a socket (remote_reply_read);
 * which replies say "too many recipients" (remote_reply_too_many). */
#include "../../send/remote.h"
#include "t.h"

#include <sys/socket.h>
#include <unistd.h>

static const struct {
	const char *name;
	const char *lines[6];
	int rc_last;     /* feed's return for the last line */
	int code;
	const char *text;
} cases[] = {
	{ "single", { "250 ok" }, 0, 250, "ok" },
	{ "bare code", { "354" }, 0, 354, "" },
	{ "multiline", { "250-mx.test hello", "250-PIPELINING", "250 SIZE 100" },
	  0, 250, "mx.test hello\nPIPELINING\nSIZE 100" },
	{ "enhanced", { "550 5.1.1 no such user" }, 0, 550, "5.1.1 no such user" },
	{ "continues", { "250-first" }, 1, 250, "first" },
	{ "code changes", { "250-a", "550 b" }, -1, 0, NULL },
	{ "bad digit", { "2x0 ok" }, -1, 0, NULL },
	{ "code 100", { "100 hi" }, -1, 0, NULL },
	{ "code 600", { "600 hi" }, -1, 0, NULL },
	{ "no separator", { "250ok" }, -1, 0, NULL },
	{ "too short", { "25" }, -1, 0, NULL },
	{ "empty", { "" }, -1, 0, NULL },
	{ "control bytes", { "250 a\x1b[31mb\x7f" }, 0, 250, "a?[31mb?" },
	{ "8-bit", { "451 caf\xc3\xa9" }, 0, 451, "caf??" },
};

static void test_feed(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct remote_reply r = { 0 };
		int rc = 0;
		char name[128];
		for (size_t k = 0; k < 6 && cases[i].lines[k]; k++)
			rc = remote_reply_feed(&r, cases[i].lines[k],
					       strlen(cases[i].lines[k]));
		snprintf(name, sizeof name, "feed %s: return", cases[i].name);
		T_CHECK(name, rc == cases[i].rc_last);
		snprintf(name, sizeof name, "feed %s: code", cases[i].name);
		T_CHECK(name, r.code == cases[i].code);
		if (cases[i].text) {
			snprintf(name, sizeof name, "feed %s: text", cases[i].name);
			T_STREQ(name, r.text, cases[i].text);
		}
	}
}

static void test_too_many_lines(void)
{
	struct remote_reply r = { 0 };
	int rc = 1;
	size_t n = 0;
	while (rc == 1 && n < 1000) {
		rc = remote_reply_feed(&r, "250-x", 5);
		n++;
	}
	T_CHECK("feed endless continuation is cut off", rc == -1);
	T_CHECK("feed endless continuation: at the line limit",
		n == REMOTE_REPLY_LINES + 1);
}

static void test_long_text(void)
{
	static char line[8000];
	struct remote_reply r = { 0 };
	memset(line, 'a', sizeof line - 1);
	memcpy(line, "250-", 4);
	for (int i = 0; i < 5; i++)
		remote_reply_feed(&r, line, strlen(line));
	T_CHECK("feed long lines: text bounded", strlen(r.text) < sizeof r.text);
	T_CHECK("feed long lines: length consistent", r.len == strlen(r.text));
}

/* Write raw bytes into a socketpair and read a reply from the other end. */
static int read_raw(const char *raw, int close_after, struct remote_reply *r)
{
	int sv[2];
	struct io io;
	int rc;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	if (write(sv[0], raw, strlen(raw)) < 0)
		return -2;
	if (close_after)
		close(sv[0]);
	io_init(&io, sv[1], sv[1], 1000);
	rc = remote_reply_read(&io, r);
	if (!close_after)
		close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_read(void)
{
	struct remote_reply r;
	char line[600];

	T_CHECK("read multiline CRLF",
		read_raw("220-hi\r\n220 there\r\n", 0, &r) == 0 && r.code == 220);
	remote_reply_line(&r, line, sizeof line);
	T_STREQ("read multiline: one log line", line, "220 hi there");
	T_CHECK("read bare LF accepted", read_raw("250 ok\n", 0, &r) == 0 &&
					       r.code == 250);
	T_CHECK("read EOF mid reply", read_raw("250-a\r\n", 1, &r) == -1 &&
					      r.code == 0);
	T_STREQ("read EOF mid reply: reason", r.text, "connection closed");
	T_CHECK("read partial line at EOF", read_raw("250 ok", 1, &r) == -1);
	T_CHECK("read timeout", read_raw("250-a\r\n", 0, &r) == -1 &&
					r.code == 0);
	T_STREQ("read timeout: reason", r.text, "timeout");
	T_CHECK("read garbage", read_raw("HTTP/1.1 400\r\n", 0, &r) == -1 &&
					r.code == 0);
	T_STREQ("read garbage: reason", r.text, "malformed reply");
}

/* Random bytes line by line: never a crash, the code always 0 or in
 * 200..599, the text always terminated and within bounds. */
static void test_random(void)
{
	static char line[600];
	unsigned seed = 11;
	int ok = 1;

	for (int round = 0; round < 20000 && ok; round++) {
		struct remote_reply r = { 0 };
		int rc = 1;
		for (int l = 0; l < 80 && rc == 1; l++) {
			seed = seed * 1103515245u + 12345u;
			size_t n = (seed >> 16) % sizeof line;
			for (size_t i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				unsigned v = seed >> 16;
				if (i < 3 && (seed & 0x100000))
					line[i] = (char)('2' + v % 4);
				else if (i == 3)
					line[i] = " -"[v & 1];
				else
					line[i] = (char)v;
			}
			rc = remote_reply_feed(&r, line, n);
		}
		ok = (r.code == 0 || (r.code >= 200 && r.code <= 599)) &&
		     r.len < sizeof r.text && strlen(r.text) == r.len;
	}
	T_CHECK("random replies: bounded and sane", ok);
}

/* "too many recipients" (RFC 5321 4.5.3.1.10), told from 552's other
 * meaning and from other 452s by the enhanced code */
static void test_too_many(void)
{
	static const struct {
		const char *line;
		int want;
	} tm[] = {
		{ "452 4.5.3 Error: too many recipients", 1 },
		{ "552 5.5.3 Too many recipients", 1 },
		{ "452 too many recipients", 1 },
		{ "452 4.3.1 Insufficient system storage", 0 },
		{ "552 5.3.4 Message size exceeds fixed limit", 0 },
		{ "552 too much mail data", 0 },
		{ "552 4.5.3 class disagrees", 0 },
		{ "452 4.5.30 not X.5.3", 0 },
		{ "550 5.5.3 Too many recipients", 0 },
		{ "451 4.5.3 later", 0 },
	};
	for (size_t i = 0; i < sizeof tm / sizeof tm[0]; i++) {
		struct remote_reply r = { 0 };
		char name[128];
		remote_reply_feed(&r, tm[i].line, strlen(tm[i].line));
		snprintf(name, sizeof name, "too many: %s", tm[i].line);
		T_CHECK(name, remote_reply_too_many(&r) == tm[i].want);
	}
}

int main(void)
{
	test_too_many();
	test_feed();
	test_too_many_lines();
	test_long_text();
	test_read();
	test_random();
	return t_done();
}
