// links: metrics/mon_data.c
/* test_mon_data.c: relay-metrics takes snapshots from two threads at
 * once (the HTTP server's for /metrics and the page, the sampler in the
 * main loop): both read the rate counters file, and each sees every
 * record, without a crash (rate_stats has one map per process). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../metrics/mon.h"
#include "rate_file.h"
#include "settings.h"
#include "t.h"

enum { CUSTOMERS = 500, SNAPS = 300 };

static char dir[64], rate_dir[96];
static const char *path; /* the default counters_file, in dir */

/* A counters file with CUSTOMERS customer records, made the writer's way. */
static int make_counters(void)
{
	char name[32];

	cf.rate_users_max = 16;
	cf.rate_customers_max = CUSTOMERS;
	if (rate_file_open(path, 0) < 0)
		return -1;
	rate_file_write_begin();
	for (int i = 0; i < CUSTOMERS; i++) {
		snprintf(name, sizeof name, "cust%d", i);
		rate_index_get(RATE_CUSTOMER, name, 1000, NULL);
	}
	rate_file_write_end();
	rate_file_close();
	return 0;
}

/* Snapshots one after another: how many missed a record. */
static void *snapper(void *arg)
{
	struct mon_snap sn;
	long *short_snaps = arg;

	for (int k = 0; k < SNAPS; k++) {
		if (mon_snap_take(&sn) < 0 || sn.nu != CUSTOMERS)
			++*short_snaps;
		mon_snap_free(&sn);
	}
	return NULL;
}

static void test_two_snapshot_takers(void)
{
	long short_a = 0, short_b = 0;
	pthread_t a, b;

	T_CHECK("two takers: a counters file of 500 customers",
		make_counters() == 0);
	pthread_create(&a, NULL, snapper, &short_a);
	pthread_create(&b, NULL, snapper, &short_b);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("# two takers: %d snapshots each, %ld and %ld short\n", SNAPS,
	       short_a, short_b);
	T_CHECK("two takers: every snapshot saw every customer",
		short_a == 0 && short_b == 0);
}

int main(void)
{
	char tmpl[] = "/tmp/test_mon_data.XXXXXX";

	if (!mkdtemp(tmpl))
		return 1;
	snprintf(dir, sizeof dir, "%s", tmpl);
	settings_load(dir);
	path = cf.counters_file;
	snprintf(rate_dir, sizeof rate_dir, "%s/%s", dir, RATE_DIR);
	if (mkdir(rate_dir, 0700) < 0)
		return 1;
	mon_data_init();
	test_two_snapshot_takers();
	unlink(path);
	rmdir(rate_dir);
	rmdir(dir);
	return t_done();
}
