// links: queue/queue_abuse_sender.c queue/queue_abuse_over.c queue/queue_abuse_domains.c
/* test_queue_abuse_sender.c: a sender: account whose evidence all came
 * from one device that is over does not alert too (the device carries
 * it); evidence from a second device, or a device that is not over,
 * lets it alert; from_device and from_others read back as written. */
#include <stdio.h>
#include <string.h>

#include "../../queue/queue.h"
#include "settings.h"
#include "t.h"

#define HOUR 500000LL

static void acct(struct abuse_acct *a, const char *key, unsigned spam)
{
	memset(a, 0, sizeof *a);
	snprintf(a->key, sizeof a->key, "%s", key);
	a->hour = HOUR;
	a->spam[HOUR % 24] = spam;
}

static void test_carried(void)
{
	struct abuse_acct ab[3];
	long long now = HOUR * 3600;

	cf.abuse_spam_max = 3;
	acct(&ab[0], "device:192.0.2.1", 3);
	acct(&ab[1], "device:192.0.2.2", 1);
	acct(&ab[2], "sender:boss@example.com", 3);
	T_CHECK("no device known: alerts",
		!queue_abuse_carried(&ab[2], ab, 3, now));
	queue_abuse_from_device(&ab[2], "device:192.0.2.1", HOUR);
	T_CHECK("one device, over: carried",
		queue_abuse_carried(&ab[2], ab, 3, now));
	T_CHECK("a device is never carried",
		!queue_abuse_carried(&ab[0], ab, 3, now));
	ab[0].spam[HOUR % 24] = 1;
	T_CHECK("that device not over: alerts",
		!queue_abuse_carried(&ab[2], ab, 3, now));
	ab[0].state = AB_SUSPENDED;
	T_CHECK("that device suspended: carried",
		queue_abuse_carried(&ab[2], ab, 3, now));
	queue_abuse_from_device(&ab[2], "device:192.0.2.2", HOUR);
	T_CHECK("a second device: alerts",
		!queue_abuse_carried(&ab[2], ab, 3, now));
	ab[2].hour = HOUR + 24;
	ab[1].spam[HOUR % 24] = 3;
	T_CHECK("a day later its spam aged out: not carried",
		queue_abuse_carried(&ab[2], ab, 3, (HOUR + 24) * 3600) == 0 &&
		ab[1].hour == HOUR + 24);
}

static void test_text(void)
{
	struct abuse_acct a, b;
	char t[128], t2[128], dev[32], others[32];

	acct(&a, "sender:boss@example.com", 0);
	queue_abuse_from_text(&a, t, sizeof t);
	T_STREQ("none", t, " from_device=- from_others=-");
	queue_abuse_from_device(&a, "device:192.0.2.1", HOUR - 3);
	queue_abuse_from_device(&a, "device:192.0.2.2", HOUR - 2);
	queue_abuse_from_text(&a, t, sizeof t);
	T_CHECK("a hash and an age", sscanf(t, " from_device=%31s "
		"from_others=%31s", dev, others) == 2 && strlen(dev) == 16 &&
		!strcmp(others, "2"));
	acct(&b, "sender:boss@example.com", 0);
	queue_abuse_from_load(&b, dev, others, HOUR);
	queue_abuse_from_text(&b, t2, sizeof t2);
	T_STREQ("read back as written", t2, t);
	acct(&b, "sender:boss@example.com", 0);
	queue_abuse_from_load(&b, "xyz", "2", HOUR);
	T_CHECK("not a hash: none", b.from_dev == 0 && b.from_others == 0);
	acct(&b, "device:192.0.2.1", 0);
	queue_abuse_from_device(&b, "device:192.0.2.2", HOUR);
	T_CHECK("only a sender: account keeps a device", b.from_dev == 0);
}

int main(void)
{
	test_carried();
	test_text();
	return t_done();
}
