/* queue_abuse_sender.c: one event, one alert, for a registered sender
 * without AUTH (lib/abuse.h).  Its message counts for the device that
 * sent it (the real source) and for sender:ADDRESS (the client's word),
 * so the same evidence would alert both.  When all of a sender:
 * account's evidence of the 24 hours came from one device followed in
 * a slot of its own, and that device is itself over a threshold or
 * suspended, the device's alert and suspension carry it: the sender:
 * account does not alert too (relay-queue's ab_decide).  Evidence from
 * two devices or more (an address forged or used on several), or a
 * device that is not over (its counts lost to an eviction, or counted
 * in an overflow account, which is never suspended): the sender:
 * account alerts as any account, and its suspension refuses the
 * address from every device without AUTH.  The device is kept as a
 * hash of its account: a collision can only make two devices one for
 * this choice, and each device still alerts on its own counts. */
#include "queue.h"
#include "abuse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_kind(const char *key, const char *kind)
{
	size_t n = strlen(kind);
	return !strncmp(key, kind, n) && key[n] == ':';
}

/* FNV-1a, 64 bits, never 0 (0: no device). */
static unsigned long long device_hash(const char *key)
{
	unsigned long long h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h | 1;
}

void queue_abuse_from_device(struct abuse_acct *a, const char *device,
			     long long hour)
{
	unsigned long long h;

	if (!device || !is_kind(device, ABUSE_KIND_DEVICE) ||
	    !is_kind(a->key, ABUSE_KIND_SENDER))
		return;
	h = device_hash(device);
	if (a->from_dev && a->from_dev != h)
		a->from_others = hour;
	a->from_dev = h;
}

int queue_abuse_sent_by(const struct abuse_acct *a,
			const struct abuse_acct *device)
{
	return is_kind(a->key, ABUSE_KIND_SENDER) && a->from_dev &&
	       !(a->from_others && a->from_others > a->hour - 24) &&
	       is_kind(device->key, ABUSE_KIND_DEVICE) &&
	       device_hash(device->key) == a->from_dev;
}

/* The device account among ab[0..n) that alone sent the evidence of
 * sender: account a in its 24 hours, or NULL (not a sender: account,
 * several devices, or that device not followed in a slot of its own). */
static struct abuse_acct *sole_device(const struct abuse_acct *a,
				      struct abuse_acct *ab, size_t n)
{
	if (!is_kind(a->key, ABUSE_KIND_SENDER))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (queue_abuse_sent_by(a, &ab[i]))
			return &ab[i];
	return NULL;
}

int queue_abuse_carried(const struct abuse_acct *a, struct abuse_acct *ab,
			size_t n, long long now)
{
	struct abuse_acct *d = sole_device(a, ab, n);

	if (!d)
		return 0;
	queue_abuse_advance(d, now);
	return d->state == AB_SUSPENDED || *queue_abuse_over(d, now);
}

void queue_abuse_from_text(const struct abuse_acct *a, char *out, size_t n)
{
	long long age = a->hour - a->from_others;
	char others[24] = "-";

	if (a->from_others && age >= 0 && age < 24)
		snprintf(others, sizeof others, "%lld", age);
	if (a->from_dev)
		snprintf(out, n, " %s=%016llx %s=%s", ABUSE_F_FROM_DEVICE,
			 a->from_dev, ABUSE_F_FROM_OTHERS, others);
	else
		snprintf(out, n, " %s=- %s=-", ABUSE_F_FROM_DEVICE,
			 ABUSE_F_FROM_OTHERS);
}

void queue_abuse_from_load(struct abuse_acct *a, const char *dev,
			   const char *others, long long hour)
{
	char *e;
	long age;

	if (!dev || strspn(dev, "0123456789abcdef") != 16 || dev[16])
		return;
	a->from_dev = strtoull(dev, NULL, 16);
	if (!others || !*others || *others == '-')
		return;
	age = strtol(others, &e, 10);
	if (!*e && age >= 0 && age < 24)
		a->from_others = hour - age;
}
