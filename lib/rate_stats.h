/* rate_stats.h: read the rate counters file (cf.counters_file) that
 * relay-policy writes: live counters per user and customer and when their
 * windows free room.  relayctl maps the file read-only and never goes
 * through the daemon, and relay-metrics does the same.  The format is in lib/rate_file.h and ARCHITECTURE.md
 * "Rate counters"; the writer's interface is policy/rate.h. */
#ifndef RATE_STATS_H
#define RATE_STATS_H

/* Where the counters live: a folder of relay-policy's own (relay-master
 * makes it user_policy:user_metrics 02750), so that relay-policy creates,
 * sets aside (.bad) and grows (.new, renamed) the file after it has
 * dropped root, and the files it makes there keep relay-metrics' group.
 * RATE_FILE is counters_file's default; RATE_OLD_FILE is where releases
 * before the folder kept it (relay-master moves it into the folder). */
#define RATE_DIR "rate"
#define RATE_NAME "counters"
#define RATE_FILE RATE_DIR "/" RATE_NAME
#define RATE_OLD_FILE RATE_NAME

enum rate_kind { RATE_USER, RATE_CUSTOMER };

struct rate_stats {
	enum rate_kind kind;
	char name[256];
	long msgs;         /* user: messages in the daily window */
	long rcpts;        /* user: unique recipients; customer: all, daily */
	long peak;         /* customer: recipients in the 10-minute window */
	long msgs_free_at; /* when the oldest counted message leaves (0 = none) */
	long rcpts_free_at;
	long peak_free_at;
	long last;         /* last time the record was touched */
};

/* Map an existing counters file read-only; -1 on error, errno set
 * (EINVAL: not a counters file of this version).  One map per process
 * (rate_map) and one SIGBUS handler: a program that reads from several
 * threads takes turns, under its own lock from open to close
 * (metrics/mon_data.c). */
int rate_stats_open(const char *path);
void rate_stats_close(void);
/* Of the open file (read-only or read-write), without a lock: 0 found,
 * -1 not found, -2 the file changed size under the map (errno EIO) or
 * relay-policy let no consistent copy through within a second, waited
 * in all by this call (errno EAGAIN: it stayed inside updates, hostile or
 * killed there). */
int rate_stats_get(enum rate_kind k, const char *name, long now,
		   struct rate_stats *st);
/* Call fn for every record of kind k (stops when fn returns non-zero,
 * and returns that); -2 (errno EIO or EAGAIN) as rate_stats_get: the
 * second bounds the whole listing, fn's own time not counted. */
int rate_stats_each(enum rate_kind k, long now,
		    int (*fn)(const struct rate_stats *st, void *arg), void *arg);

#endif
