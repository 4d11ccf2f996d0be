// links: metrics/mon_data.c
/* test_mon_data.c: relay-metrics takes snapshots from two threads at
 * once (the HTTP server's for /metrics and the page, the sampler in the
 * main loop): both read the rate counters file, and each sees every
 * record, without a crash (rate_stats has one map per process); and
 * both keep the restart-loop history of run/status's daemons together
 * (under its lock: a build with -fsanitize=thread reports no race). */
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

/* run/status with relay-send restarted restarts times. */
static int write_status(int restarts)
{
	char p[160];
	FILE *f;

	snprintf(p, sizeof p, "%s/status", cf.run_dir);
	if (!(f = fopen(p, "w")))
		return -1;
	fprintf(f, "relay-master 1 0 1 0\nrelay-send 2 0 1 %d\n", restarts);
	return fclose(f);
}

/* Snapshots while restarts grow: how many saw relay-send's loop. */
static void *loop_snapper(void *arg)
{
	struct mon_snap sn;
	long *loops = arg;

	for (int k = 0; k < SNAPS / 3; k++) {
		if (mon_snap_take(&sn) == 0 && sn.nd == 2 && sn.d[1].loop)
			++*loops;
		mon_snap_free(&sn);
	}
	return NULL;
}

static void test_restart_loop_two_takers(void)
{
	long loops_a = 0, loops_b = 0;
	struct mon_snap sn;
	pthread_t a, b;
	char status[160];

	T_CHECK("restart loop: run/status", mkdir(cf.run_dir, 0700) == 0 &&
		write_status(0) == 0);
	mon_snap_take(&sn);
	T_CHECK("restart loop: no restarts, no loop", sn.nd == 2 &&
		!sn.d[1].loop);
	mon_snap_free(&sn);
	write_status(5);
	pthread_create(&a, NULL, loop_snapper, &loops_a);
	pthread_create(&b, NULL, loop_snapper, &loops_b);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	T_CHECK("restart loop: 5 restarts since the first snapshot: every "
		"snapshot of both threads says loop",
		loops_a == SNAPS / 3 && loops_b == SNAPS / 3);
	snprintf(status, sizeof status, "%s/status", cf.run_dir);
	unlink(status);
	rmdir(cf.run_dir);
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
	test_restart_loop_two_takers();
	unlink(path);
	rmdir(rate_dir);
	rmdir(dir);
	return t_done();
}
