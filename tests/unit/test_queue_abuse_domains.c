// links: queue/queue_abuse_domains.c
/* test_queue_abuse_domains.c: an account's refusing (or bouncing)
 * domains: each name once however often it comes, the oldest replaced
 * when the list is full, only the 24 hours counted, names relay-send
 * never sends not taken, and the abuse/accounts text read back as it
 * was written. */
#include <stdio.h>
#include <string.h>

#include "../../queue/queue.h"
#include "t.h"

static void test_once_per_name(void)
{
	struct abuse_domain l[ABUSE_REJECT_DOMAINS] = { 0 };

	T_CHECK("two names taken", queue_abuse_domains_add(
		l, "a.example,b.example", 100) == 2);
	T_CHECK("the same name again: taken, still one",
		queue_abuse_domains_add(l, "a.example", 101) == 1 &&
		queue_abuse_domains_count(l, 101) == 2);
	T_CHECK("bad names not taken: none, capitals, odd bytes",
		queue_abuse_domains_add(l, ",A.example,x:y.example,x y.example",
					101) == 0 &&
		queue_abuse_domains_count(l, 101) == 2);
	T_CHECK("no list: nothing", queue_abuse_domains_add(l, NULL, 101) == 0);
	T_CHECK("24 hours later b is out, a (renewed) in",
		queue_abuse_domains_count(l, 124) == 1);
	T_CHECK("25 hours later none", queue_abuse_domains_count(l, 125) == 0);
}

static void test_encoded_names(void)
{
	struct abuse_domain l[ABUSE_REJECT_DOMAINS] = { 0 };
	char t[256];

	T_CHECK("an underscore, a %xx byte (abuse_rcpt_domain's): taken",
		queue_abuse_domains_add(l, "x_y.example,a%e2%92%88b.example",
					100) == 2);
	queue_abuse_domains_text(l, 100, t, sizeof t);
	memset(l, 0, sizeof l);
	queue_abuse_domains_load(l, t, 100);
	T_CHECK("read back", queue_abuse_domains_count(l, 100) == 2 &&
		!strcmp(l[1].name, "a%e2%92%88b.example"));
}

static void test_full_list(void)
{
	struct abuse_domain l[ABUSE_REJECT_DOMAINS] = { 0 };
	char name[32];

	for (int i = 0; i < ABUSE_REJECT_DOMAINS + 2; i++) {
		snprintf(name, sizeof name, "d%d.example", i);
		queue_abuse_domains_add(l, name, 200 + i);
	}
	T_CHECK("a full list keeps ABUSE_REJECT_DOMAINS",
		queue_abuse_domains_count(l, 200 + ABUSE_REJECT_DOMAINS + 1) ==
		ABUSE_REJECT_DOMAINS);
	T_CHECK("the oldest went", strcmp(l[0].name, "d0.example") &&
		strcmp(l[1].name, "d1.example"));
}

static void test_text_round_trip(void)
{
	struct abuse_domain l[ABUSE_REJECT_DOMAINS] = { 0 };
	struct abuse_domain back[ABUSE_REJECT_DOMAINS] = { 0 };
	char t[ABUSE_REJECT_DOMAINS * (ABUSE_DOMAIN_MAX + 4)];
	char t2[sizeof t];

	queue_abuse_domains_text(l, 300, t, sizeof t);
	T_STREQ("none: -", t, "-");
	queue_abuse_domains_add(l, "a.example", 290);
	queue_abuse_domains_add(l, "b.example", 300);
	queue_abuse_domains_text(l, 300, t, sizeof t);
	T_STREQ("names with their ages", t, "a.example:10,b.example:0");
	queue_abuse_domains_load(back, t, 300);
	queue_abuse_domains_text(back, 300, t2, sizeof t2);
	T_STREQ("read back as written", t2, t);
	T_CHECK("read back: both counted",
		queue_abuse_domains_count(back, 300) == 2);
	memset(back, 0, sizeof back);
	queue_abuse_domains_load(back, "-", 300);
	queue_abuse_domains_load(back, "a.example:99", 300);
	T_CHECK("\"-\" and an age out of range: none",
		queue_abuse_domains_count(back, 300) == 0);
}

int main(void)
{
	test_once_per_name();
	test_encoded_names();
	test_full_list();
	test_text_round_trip();
	return t_done();
}
