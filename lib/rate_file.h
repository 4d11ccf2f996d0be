/* rate_file.h: the layout of the rate counters file, shared by its one
 * writer (relay-policy, policy/rate*.c) and its readers (rate_stats.c for
 * relayctl and relay-metrics): header, record indexes, fixed-size records
 * and their sliding-window rings.  Versioned; documented in
 * ARCHITECTURE.md "Rate counters".  Only policy/rate*.c and lib/rate_*.c
 * use it.
 *
 * No lock is taken on the file by anyone: a reader can open it, so a
 * lock there is one a reader could hold to stop the writer (and with it
 * every RCPT).  Readers get a consistent view from the header's seq
 * instead (a seqlock): the writer makes it odd before it changes
 * anything and even again after, and a reader that saw it odd, or
 * changed across its read, reads again (rate_file_read_*). */
#ifndef RATE_FILE_H
#define RATE_FILE_H

#include "rate_stats.h"

#include <stddef.h>
#include <stdint.h>

#define RATE_MAGIC "RBXRATE\n"
#define RATE_VERSION 1
#define RATE_NAME_MAX 256 /* names longer than 255 bytes are refused */

/* Window geometry: a count made at second t sits in bucket t/unit and is
 * in the window while bucket > now/unit - n. */
#define RATE_DAY_UNIT 60
#define RATE_DAY_N 1441 /* 24 h + the current minute: never frees early */
#define RATE_PEAK_UNIT 1
#define RATE_PEAK_N 600 /* exact: a count at t leaves at t + 600 */

struct rate_win {
	int64_t last;  /* bucket index of the newest bucket */
	int64_t total; /* sum of the buckets in the ring */
};

struct rate_day {
	struct rate_win w;
	uint32_t b[RATE_DAY_N];
};

struct rate_peak {
	struct rate_win w;
	uint32_t b[RATE_PEAK_N];
};

/* The common head of every record. */
struct rate_rec {
	char name[RATE_NAME_MAX]; /* lowercased, NUL-terminated */
	uint64_t hash;            /* rate_file_hash(name) */
	int64_t last_ts;          /* last time touched (reclaim after a day) */
};

/* A user record is followed by set_slots entries of struct rate_ent. */
struct rate_user {
	struct rate_rec r;
	struct rate_day msgs;  /* messages */
	struct rate_day rcpts; /* unique recipients by last-seen minute */
	uint32_t set_used;     /* occupied entries, live or expired */
	uint32_t pad;
};

/* One recipient of a user: 64-bit hash and last-seen minute + 1 (0 = empty). */
struct rate_ent {
	uint32_t hhi, hlo, min1;
};

struct rate_cust {
	struct rate_rec r;
	struct rate_day day;   /* every recipient, 24 h */
	struct rate_peak peak; /* every recipient, 10 min */
};

struct rate_hdr {
	char magic[8];
	uint32_t version, hdr_size;
	uint32_t user_cap, cust_cap;   /* records */
	uint32_t uidx_n, cidx_n;       /* index slots (power of 2, >= 2 x cap) */
	uint32_t set_slots;            /* recipient set entries per user */
	uint32_t user_size, cust_size; /* bytes per record */
	uint32_t user_used, cust_used; /* records handed out */
	uint32_t day_unit, day_n, peak_unit, peak_n;
	uint64_t file_size;
	int64_t created;
	/* the seqlock: odd while the writer changes records or indexes.
	 * Zero (even) in files written before it existed: nothing to
	 * convert, hence no new version */
	uint64_t seq;
};

struct rate_map {
	int fd, rdonly;
	size_t size;
	unsigned char *base;
	/* the writer's h is the header in the map; a reader's is geo, the
	 * copy checked at open: the writer (another uid) may change the
	 * mapped one at any time, so a reader takes from it only the
	 * records in use, clamped to geo's capacities (rate_file_used) */
	struct rate_hdr *h, geo;
	uint32_t *idx[2];        /* by enum rate_kind: 0 empty, else record + 1 */
	unsigned char *recs[2];
};

extern struct rate_map rate_map; /* the one open counters file */

/* rate_file.c */
int rate_file_open(const char *path, int rdonly);
void rate_file_geometry(struct rate_hdr *h, uint32_t ucap, uint32_t ccap,
			uint32_t slots);
void rate_file_wanted(struct rate_hdr *h); /* geometry from the settings */
int rate_file_create(int fd, struct rate_hdr *h);
void rate_file_sections(struct rate_map *m);
void rate_file_close(void);
/* The writer: begin before it changes a record, an index or the counts
 * of records in use, end after (a few microseconds; never across a
 * wait).  A reader: s = read_begin(deadline), read what it needs into
 * its own memory, then read_changed(s): 1 means what it read may be
 * torn, read again, unless read_late(deadline).  read_begin waits while
 * the writer is inside, up to the deadline: -1 (errno EAGAIN) when it
 * stayed inside until then (hostile, or killed inside: its next start
 * clears that).  A reader takes one deadline, rate_file_now_ns() +
 * RATE_READ_WAIT_NS, for a whole read (rate_stats.c: one call), so a
 * writer that is inside almost always cannot make it wait longer. */
#define RATE_READ_WAIT_NS 1000000000LL /* a second */
void rate_file_write_begin(void);
void rate_file_write_end(void);
int64_t rate_file_now_ns(void); /* CLOCK_MONOTONIC */
int rate_file_read_late(int64_t deadline);
int rate_file_read_begin(uint64_t *s, int64_t deadline);
int rate_file_read_changed(uint64_t s);
uint64_t rate_file_hash(const char *s, size_t len); /* of the lowercased bytes */
int rate_file_lower(char *dst, const char *src); /* -1 when too long/empty */
struct rate_rec *rate_file_rec(enum rate_kind k, uint32_t i);
uint32_t rate_file_cap(enum rate_kind k);
uint32_t rate_file_used(enum rate_kind k); /* records handed out */

/* rate_grow.c: copy into a larger file when the settings ask for more */
int rate_grow_needed(const struct rate_hdr *h);
int rate_grow(const char *path); /* replaces rate_map; -1 keeps the old */

/* rate_index.c: name -> record number (lname already lowercased) */
long rate_index_find(enum rate_kind k, const char *lname);
/* Find or create (reclaiming a record idle for a day for which busy(k, i)
 * is 0); -1 when full or lname is unusable. */
long rate_index_get(enum rate_kind k, const char *lname, long now,
		    int (*busy)(enum rate_kind k, uint32_t i));

/* rate_window.c (now is in seconds) */
void rate_window_advance(struct rate_win *w, uint32_t *b, uint32_t n,
			 uint32_t unit, long now);
int64_t rate_window_add(struct rate_win *w, uint32_t *b, uint32_t n,
			uint32_t unit, long now, uint32_t k);
void rate_window_sub(struct rate_win *w, uint32_t *b, uint32_t n,
		     int64_t bucket, uint32_t k);
long rate_window_sum(const struct rate_win *w, const uint32_t *b, uint32_t n,
		     uint32_t unit, long now);
long rate_window_free_at(const struct rate_win *w, const uint32_t *b,
			 uint32_t n, uint32_t unit, long now);
#define RATE_DAY(d) &(d)->w, (d)->b, RATE_DAY_N, RATE_DAY_UNIT
#define RATE_PEAK(p) &(p)->w, (p)->b, RATE_PEAK_N, RATE_PEAK_UNIT

#endif
