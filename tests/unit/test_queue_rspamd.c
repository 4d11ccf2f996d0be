// links: queue/queue_rspamd.c
/* test_queue_rspamd.c: rspamd's JSON answer as relay-queue reads it
 * (queue_rspamd_parse): the score, the action and the symbols' names
 * from real answers of rspamd 3.4, in any key order (the action one word
 * for the log: "no_action"); answers without a score, cut short, nested
 * too deep or not JSON (a score of nan, inf, hex) are refused; a symbol
 * name is cut to [A-Za-z0-9_] and the list never overflows. */
#include <stdio.h>
#include <string.h>

#include "../../queue/queue.h"
#include "t.h"

static const struct {
	const char *name, *json;
	int rc;
	double score;
	const char *action, *symbols;
} cases[] = {
	{ "gtube (rspamd 3.4)",
	  "{\"is_skipped\":true,\"score\":15.0,\"required_score\":15.0,"
	  "\"action\":\"reject\",\"symbols\":{\"GTUBE\":{\"name\":\"GTUBE\","
	  "\"score\":0.0,\"metric_score\":0.0}},\"messages\":{\"smtp_message\":"
	  "\"Gtube pattern\"},\"message-id\":\"x@y\",\"time_real\":0.059547}",
	  0, 15.0, "reject", "GTUBE" },
	{ "clean, several symbols, milter block",
	  "{\"is_skipped\":false,\"score\":-0.100000,\"required_score\":15.0,"
	  "\"action\":\"no action\",\"symbols\":{\"ARC_NA\":{\"name\":\"ARC_NA\","
	  "\"score\":0.0,\"options\":[\"a\",\"b\"]},\"MIME_GOOD\":{\"name\":"
	  "\"MIME_GOOD\",\"score\":-0.1,\"options\":[\"text/plain\"]}},"
	  "\"messages\":{},\"milter\":{\"remove_headers\":{\"X-Spam\":0}}}",
	  0, -0.1, "no_action", "ARC_NA,MIME_GOOD" },
	{ "keys in another order, blanks",
	  " { \"symbols\" : { \"A\" : { \"score\" : 99 } } ,\n \"action\" : "
	  "\"add header\" , \"score\" : 7.5e0 } ",
	  0, 7.5, "add_header", "A" },
	{ "no score", "{\"action\":\"reject\"}", -1, 0, "", "" },
	{ "cut short", "{\"score\":3.0,\"symbols\":{\"A\":{", -1, 0, "", "" },
	{ "not an object", "[1,2]", -1, 0, "", "" },
	{ "empty", "", -1, 0, "", "" },
	{ "score not a number", "{\"score\":\"x\"}", -1, 0, "", "" },
	/* not JSON numbers, or not finite: no verdict (a NaN compares
	 * below every reject score, so it would pass as clean) */
	{ "score nan", "{\"score\": nan, \"action\": \"reject\"}",
	  -1, 0, "", "" },
	{ "score -nan", "{\"score\":-nan}", -1, 0, "", "" },
	{ "score inf", "{\"score\":inf}", -1, 0, "", "" },
	{ "score -infinity", "{\"score\":-infinity}", -1, 0, "", "" },
	{ "score overflows to inf", "{\"score\":1e999}", -1, 0, "", "" },
	{ "score hexadecimal", "{\"score\":0x10}", -1, 0, "", "" },
	{ "score with a plus", "{\"score\":+1}", -1, 0, "", "" },
	{ "score ends in a dot", "{\"score\":1.}", -1, 0, "", "" },
	{ "required_score nan", "{\"score\":1,\"required_score\":nan}",
	  -1, 0, "", "" },
	{ "score a string of a number", "{\"score\":\"15\"}", -1, 0, "", "" },
	{ "score negative exponent", "{\"score\":-2.5E-1}", 0, -0.25, "", "" },
	{ "score zero", "{\"score\":0}", 0, 0, "", "" },
	{ "an action that would forge a log key",
	  "{\"score\":1,\"action\":\"x=y <z> \\u0001\"}", 0, 1, "xy_z_u0001", "" },
	{ "odd symbol names cut",
	  "{\"score\":1,\"symbols\":{\"BAD%0Aname\":{},\"\\\"Q\":{},\"OK_1\":{}}}",
	  0, 1, "", "BAD,OK_1" },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct queue_rspamd_verdict v;
		char name[160];
		int rc = queue_rspamd_parse(cases[i].json, strlen(cases[i].json),
					    &v);
		snprintf(name, sizeof name, "parse %s: result", cases[i].name);
		T_CHECK(name, rc == cases[i].rc);
		if (rc < 0 || cases[i].rc < 0)
			continue;
		snprintf(name, sizeof name, "parse %s: score", cases[i].name);
		T_CHECK(name, v.score > cases[i].score - 1e-9 &&
			      v.score < cases[i].score + 1e-9);
		snprintf(name, sizeof name, "parse %s: action", cases[i].name);
		T_STREQ(name, v.action, cases[i].action);
		snprintf(name, sizeof name, "parse %s: symbols", cases[i].name);
		T_STREQ(name, v.symbols, cases[i].symbols);
	}
}

/* Deep nesting is refused, not a stack overflow. */
static void test_deep(void)
{
	static char buf[200000];
	struct queue_rspamd_verdict v;
	size_t n = (size_t)sprintf(buf, "{\"score\":1,\"x\":");

	for (int i = 0; i < 50000; i++)
		buf[n++] = '[';
	buf[n] = '\0';
	T_CHECK("deep nesting refused", queue_rspamd_parse(buf, n, &v) < 0);
}

/* Thousands of symbols: the list stops at its buffer. */
static void test_many(void)
{
	static char buf[300000];
	struct queue_rspamd_verdict v;
	size_t n = (size_t)sprintf(buf, "{\"score\":2,\"symbols\":{");

	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(buf + n, "%s\"SYMBOL_%d\":{\"score\":1}",
				     i ? "," : "", i);
	n += (size_t)sprintf(buf + n, "}}");
	T_CHECK("many symbols: parses", queue_rspamd_parse(buf, n, &v) == 0);
	T_CHECK("many symbols: list bounded",
		strlen(v.symbols) < sizeof v.symbols &&
		!strncmp(v.symbols, "SYMBOL_0,SYMBOL_1,", 18));
}

int main(void)
{
	test_table();
	test_deep();
	test_many();
	return t_done();
}
