// links: policy/rate.c policy/rate_set.c
/* test_rate_stats_hostile.c: relayctl stats reads a counters file that
 * another uid (relay-policy) writes, so it must survive that writer
 * turning hostile: a header whose offsets or counts point past the map
 * (at open, or changed after open through the shared mapping), index
 * slots naming records that do not exist, names without their NUL, and
 * a file cut short under the map (SIGBUS).  Each gives a clear error or
 * is skipped; none may crash the reader. */
#include "test_rate.h"
#include "rate_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

static int count_cb(const struct rate_stats *st, void *arg)
{
	(void)st;
	++*(long *)arg;
	return 0;
}

static long each_count(enum rate_kind k, int *rc)
{
	long n = 0;
	*rc = rate_stats_each(k, 1000, count_cb, &n);
	return n;
}

/* Write len bytes at off of the counters file (as a hostile writer). */
static void poke(off_t off, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, p, len, off) != (ssize_t)len)
		printf("FAIL poke %s\n", path);
	if (fd >= 0)
		close(fd);
}

/* Three users and three customers, counted once each. */
static void fill_file(void)
{
	enum rate_verdict v;
	char u[64], c[64];

	fresh();
	for (int i = 0; i < 3; i++) {
		snprintf(u, sizeof u, "u%d@example.com", i);
		snprintf(c, sizeof c, "c%d", i);
		send_msg(u, c, 0, 1, &nolim, 1000, &v);
	}
	rate_close();
}

static void test_header_at_open(void)
{
	uint32_t huge = 0xfffffff0u;

	fill_file();
	poke(offsetof(struct rate_hdr, user_used), &huge, sizeof huge);
	errno = 0;
	T_CHECK("used past the capacity at open: refused (EINVAL)",
		rate_stats_open(path) < 0 && errno == EINVAL);
	fill_file();
	poke(offsetof(struct rate_hdr, uidx_n), &huge, sizeof huge);
	T_CHECK("index size that does not fit the file: refused",
		rate_stats_open(path) < 0 && errno == EINVAL);
	rate_stats_close();
}

static void test_header_after_open(void)
{
	uint32_t huge = 0xfffffff0u;
	int rc;

	fill_file();
	T_CHECK("open a good file", rate_stats_open(path) == 0);
	T_CHECK("three users listed", each_count(RATE_USER, &rc) == 3 && rc == 0);
	/* the writer raises its counts through the shared map after open */
	poke(offsetof(struct rate_hdr, user_used), &huge, sizeof huge);
	poke(offsetof(struct rate_hdr, cust_used), &huge, sizeof huge);
	poke(offsetof(struct rate_hdr, user_cap), &huge, sizeof huge);
	poke(offsetof(struct rate_hdr, user_size), &huge, sizeof huge);
	poke(offsetof(struct rate_hdr, uidx_n), &huge, sizeof huge);
	T_CHECK("used past the capacity after open: at most the capacity read",
		each_count(RATE_USER, &rc) == 3 && rc == 0 &&
		each_count(RATE_CUSTOMER, &rc) == 3 && rc == 0);
	{
		struct rate_stats st;
		T_CHECK("lookup by name still works",
			rate_stats_get(RATE_USER, "u1@example.com", 1000, &st) == 0 &&
			st.msgs == 1);
	}
	rate_stats_close();
}

static void test_index_and_names(void)
{
	struct rate_stats st;
	struct rate_hdr h;
	uint32_t bad = 0xfffffff0u;
	char longname[RATE_NAME_MAX];
	int fd, rc;

	fill_file();
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		printf("FAIL read header\n");
	close(fd);
	/* every user index slot names a record that does not exist */
	for (uint32_t s = 0; s < h.uidx_n; s++)
		poke((off_t)h.hdr_size + 4 * (off_t)s, &bad, sizeof bad);
	/* the first user record's name fills its field without a NUL */
	memset(longname, 'x', sizeof longname);
	poke((off_t)h.hdr_size + 4 * ((off_t)h.uidx_n + h.cidx_n), longname,
	     sizeof longname);
	T_CHECK("open the damaged file", rate_stats_open(path) == 0);
	T_CHECK("index slots past the records: not found",
		rate_stats_get(RATE_USER, "u1@example.com", 1000, &st) == -1);
	T_CHECK("a name without its NUL is cut, not overrun",
		each_count(RATE_USER, &rc) == 3 && rc == 0);
	rate_stats_close();
}

static void test_cut_short(void)
{
	struct rate_stats st;
	int rc;

	fill_file();
	T_CHECK("open before the cut", rate_stats_open(path) == 0);
	if (truncate(path, 4096) < 0)
		printf("FAIL truncate\n");
	each_count(RATE_USER, &rc);
	T_CHECK("file cut short under the map: error, no SIGBUS",
		rc == -2 && errno == EIO);
	T_CHECK("and a lookup by name too",
		rate_stats_get(RATE_USER, "u1@example.com", 1000, &st) == -2);
	rate_stats_close();
}

int main(void)
{
	rate_t_setup();
	test_header_at_open();
	test_header_after_open();
	test_index_and_names();
	test_cut_short();
	rate_t_teardown();
	return t_done();
}
