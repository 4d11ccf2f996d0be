// links:
/* test_metrics.c: lib/metrics.c and lib/metrics_read.c, the areas the
 * daemons publish and relay-metrics reads: counts from several processes
 * add up, labels are escaped, a bounded family stops at its bound, and a
 * hostile area gives no bad text and no series of another publisher's
 * families. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "utf8.h"
#include "t.h"

static char dir[] = "/tmp/relaybox-test-metrics-XXXXXX";
static char path[400];
static struct metrics_sample got[METRICS_SLOTS];

/* the value of one series as read back (the area "t" taken as the
 * family's owner's), or -1 */
static long long find(unsigned family, unsigned part, const char *labels)
{
	int n = metrics_read(path, metrics_families[family].owner, got,
			     METRICS_SLOTS, NULL);
	long long sum = -1;

	for (int i = 0; i < n; i++)
		if (got[i].family == family && got[i].part == part &&
		    !strcmp(got[i].labels, labels))
			sum = (sum < 0 ? 0 : sum) + (long long)got[i].value;
	return sum;
}

/* A long value is cut so that every pair fits, and ends in a hash of the
 * whole value: no pair dropped, two long values alike at first stay two
 * label sets (a pair dropped made two series print with equal labels). */
static void test_labels_long(void)
{
	char a[METRICS_LABELS_MAX], b[METRICS_LABELS_MAX], v1[300], v2[300];

	memset(v1, 'l', 250);
	v1[250] = '\0';
	memcpy(v2, v1, sizeof v2);
	v2[249] = 'm';
	metrics_labels(a, sizeof a, "user", v1, "kind", "recipients", NULL);
	metrics_labels(b, sizeof b, "user", v2, "kind", "recipients", NULL);
	T_CHECK("labels long: well-formed", metrics_labels_ok(a) &&
		metrics_labels_ok(b));
	T_CHECK("labels long: the later pair kept whole",
		strstr(a, ",kind=\"recipients\"") && strlen(a) < sizeof a);
	T_CHECK("labels long: a hash of the whole value after the cut",
		strstr(a, "~") && strstr(a, "\",kind=") - strstr(a, "~") == 9);
	T_CHECK("labels long: values alike at first stay apart",
		strcmp(a, b) != 0);
	metrics_labels(a, sizeof a, "destination", v1, "result", "sent",
		       "third", v2, NULL);
	T_CHECK("labels long: three pairs, two cut, all there",
		metrics_labels_ok(a) && strstr(a, ",result=\"sent\",third=\"l"));
	T_STREQ("labels long: a value that fits is not cut",
		metrics_labels(a, sizeof a, "user", "a@b.example", "kind",
			       "messages", NULL),
		"user=\"a@b.example\",kind=\"messages\"");
}

static void test_labels(void)
{
	char b[METRICS_LABELS_MAX];

	T_STREQ("labels none", metrics_labels(b, sizeof b, NULL), "");
	T_STREQ("labels two", metrics_labels(b, sizeof b, "a", "x", "b_2",
					     "y", NULL), "a=\"x\",b_2=\"y\"");
	T_STREQ("labels escaped", metrics_labels(b, sizeof b, "d",
						 "q\"\\\nz", NULL),
		"d=\"q\\\"\\\\\\nz\"");
	metrics_labels(b, 12, "dest", "averyveryverylongname", NULL);
	T_CHECK("labels cut still well-formed", metrics_labels_ok(b));
	test_labels_long();
	T_CHECK("labels_ok refuses a raw newline",
		!metrics_labels_ok("a=\"x\ny\""));
	T_CHECK("labels_ok refuses a brace", !metrics_labels_ok("a=\"x\"}"));
	T_CHECK("labels_ok refuses a bad escape",
		!metrics_labels_ok("a=\"\\q\""));
	T_CHECK("labels_ok refuses an open quote", !metrics_labels_ok("a=\"x"));
}

/* Label values are UTF-8 whatever the daemon was given: the text format
 * requires it, and one bad value made the whole scrape unreadable. */
static void test_labels_utf8(void)
{
	char b[METRICS_LABELS_MAX], e[200] = "";

	T_STREQ("labels: a bad byte becomes U+FFFD",
		metrics_labels(b, sizeof b, "d", "bad\xff.example", NULL),
		"d=\"bad\xef\xbf\xbd.example\"");
	T_STREQ("labels: a cut character becomes U+FFFD",
		metrics_labels(b, sizeof b, "d", "x\xc3", NULL),
		"d=\"x\xef\xbf\xbd\"");
	T_STREQ("labels: cut between characters, not inside an é",
		metrics_labels(b, 12, "d", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL),
		"d=\"\xc3\xa9\xc3\xa9\xc3\xa9\"");
	for (int i = 0; i < 80; i++)
		strcat(e, i == 40 ? "." : "\xc3\xa9");
	metrics_labels(b, sizeof b, "destination", e, "result", "sent", NULL);
	T_CHECK("labels: a long U-label cut to fit is UTF-8",
		utf8_valid(b) && metrics_labels_ok(b));
	T_CHECK("labels_ok takes UTF-8", metrics_labels_ok("a=\"\xc3\xa9\""));
	T_CHECK("labels_ok refuses \\xff", !metrics_labels_ok("a=\"x\xff\""));
	T_CHECK("labels_ok refuses a cut character",
		!metrics_labels_ok("a=\"x\xc3\""));
	T_CHECK("labels_ok refuses an overlong form",
		!metrics_labels_ok("a=\"\xc0\xaf\""));
}

static void test_counts(void)
{
	char b[METRICS_LABELS_MAX];
	pid_t pid[4];
	int st, ok = 1;

	T_CHECK("open", metrics_open(dir, "t") == 0);
	metrics_labels(b, sizeof b, "result", "ok", NULL);
	for (int p = 0; p < 4; p++) {
		pid[p] = fork();
		if (pid[p] == 0) {
			for (int i = 0; i < 10000; i++)
				metrics_add(METRIC_SMTPD_AUTH, 1, b);
			_exit(0);
		}
	}
	for (int p = 0; p < 4; p++)
		ok &= waitpid(pid[p], &st, 0) == pid[p] && st == 0;
	T_CHECK("children ran", ok);
	T_CHECK("four processes add up", find(METRIC_SMTPD_AUTH, 0, b) == 40000);
	metrics_set(METRIC_QUEUE_STATE, 7, "state=\"active\"");
	metrics_set(METRIC_QUEUE_STATE, 3, "state=\"active\"");
	T_CHECK("gauge set", find(METRIC_QUEUE_STATE, 0,
				  "state=\"active\"") == 3);
	metrics_observe(METRIC_DELIVERY_DELAY, 5.5, "");
	metrics_observe(METRIC_DELIVERY_DELAY, 100000, "");
	T_CHECK("bucket 1s empty", find(METRIC_DELIVERY_DELAY, 0, "") < 0);
	T_CHECK("bucket 10s", find(METRIC_DELIVERY_DELAY, 1, "") == 1);
	T_CHECK("bucket 5d", find(METRIC_DELIVERY_DELAY, 9, "") == 2);
	T_CHECK("count", find(METRIC_DELIVERY_DELAY, METRICS_PART_INF, "") == 2);
	T_CHECK("sum in ms", find(METRIC_DELIVERY_DELAY, METRICS_PART_SUM,
				  "") == 100005500);
}

static void test_bound(void)
{
	char b[METRICS_LABELS_MAX], d[32];
	unsigned max = metrics_families[METRIC_DEST_DEFERRING].max_series;
	int refused = 0;

	for (unsigned i = 0; i < max + 5; i++) {
		snprintf(d, sizeof d, "d%u.example", i);
		metrics_labels(b, sizeof b, "destination", d, NULL);
		refused += metrics_set(METRIC_DEST_DEFERRING, 1, b) < 0;
	}
	T_CHECK("bounded family refuses past its bound", refused == 5);
	refused = metrics_set(METRIC_DEST_DEFERRING, 1, b) < 0;
	T_CHECK("a refused series stays refused", refused);
	snprintf(d, sizeof d, "d%u.example", 0);
	metrics_labels(b, sizeof b, "destination", d, NULL);
	T_CHECK("an early series still counts",
		metrics_set(METRIC_DEST_DEFERRING, 9, b) == 0 &&
		find(METRIC_DEST_DEFERRING, 0, b) == 9);
}

/* A slot with a raw newline in its labels, another with a family out of
 * range: neither is read. */
static void test_hostile(void)
{
	unsigned char s[128];
	uint32_t ready = 2;
	uint16_t fam;
	int fd = open(path, O_WRONLY);
	off_t at = METRICS_HEAD + 1000 * 128;

	memset(s, 0, sizeof s);
	memcpy(s + 8, &ready, 4);
	fam = METRIC_SMTPD_TLS;
	memcpy(s + 16, &fam, 2);
	memcpy(s + 20, "v=\"1\"}\nfake 1", 13);
	T_CHECK("write hostile slot", pwrite(fd, s, 128, at) == 128);
	fam = 60;
	memcpy(s + 16, &fam, 2);
	memcpy(s + 20, "v=\"1\"\0", 6);
	T_CHECK("write foreign family", pwrite(fd, s, 128, at + 128) == 128);
	fam = METRIC_DEST_DELIVERIES;
	memcpy(s + 16, &fam, 2);
	memcpy(s + 20, "destination=\"bad\xff.example\"\0", 28);
	T_CHECK("write non-UTF-8 label", pwrite(fd, s, 128, at + 256) == 128);
	close(fd);
	int n = metrics_read(path, METRICS_SMTPD, got, METRICS_SLOTS, NULL);
	int bad = 0;
	for (int i = 0; i < n; i++)
		bad += got[i].family == METRIC_SMTPD_TLS || got[i].family >= 60 ||
		       !utf8_valid(got[i].labels);
	T_CHECK("hostile slots skipped", n > 0 && bad == 0);
	n = metrics_read(path, METRICS_SEND, got, METRICS_SLOTS, NULL);
	for (int i = 0; i < n; i++)
		bad += !utf8_valid(got[i].labels);
	T_CHECK("hostile slots skipped (send's families)", n > 0 && !bad);
	fd = open(path, O_WRONLY);
	T_CHECK("cut short", fd >= 0 && ftruncate(fd, 1000) == 0);
	close(fd);
	T_CHECK("short file refused",
		metrics_read(path, METRICS_SMTPD, got, 10, NULL) < 0);
}

/* An area read as one publisher's gives only the families it owns: the
 * smtpd area cannot set relay-queue's or relay-send's series. */
static void test_owner(void)
{
	size_t foreign = 99;
	int n = metrics_read(path, METRICS_SMTPD, got, METRICS_SLOTS, &foreign);
	int others = 0, auth = 0;

	for (int i = 0; i < n; i++) {
		others += got[i].family != METRIC_SMTPD_AUTH &&
			  got[i].family != METRIC_SMTPD_TLS;
		auth += got[i].family == METRIC_SMTPD_AUTH;
	}
	T_CHECK("owner: its own families read", auth == 1);
	T_CHECK("owner: no other publisher's family", others == 0);
	/* QUEUE_STATE (1) and DELIVERY_DELAY (12 parts), DEST_DEFERRING
	 * (200 counted, the rest dead and skipped anyway) */
	T_CHECK("owner: the others counted as foreign", foreign >= 13);
	T_CHECK("owner: every family has an owner",
		metrics_families[METRICS_NFAMILIES - 1].owner &&
		metrics_families[0].owner);
	T_CHECK("owner: an unknown area owns nothing",
		metrics_read(path, "t", got, METRICS_SLOTS, NULL) == 0);
}

int main(void)
{
	char sub[300];

	if (!mkdtemp(dir))
		return 1;
	snprintf(sub, sizeof sub, "%s/%s", dir, METRICS_DIR);
	mkdir(sub, 0755);
	snprintf(path, sizeof path, "%s/t", sub);
	test_labels();
	test_labels_utf8();
	test_counts();
	test_bound();
	test_owner();
	test_hostile();
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	return t_done();
}
