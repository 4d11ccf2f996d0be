/* metrics.h: what a daemon publishes for relay-metrics (Prometheus).
 *
 * Each publisher has one fixed-size area, the file DIR/metrics/<who>
 * mapped MAP_SHARED: a 4 KiB header and METRICS_SLOTS slots of 128 bytes,
 * one per series (a family of metrics_def.h and a label set).  Several
 * processes of one uid (the relay-smtpd workers) share one area: a slot
 * is found by a hash of (family, labels) with linear probing and claimed
 * with a compare-and-swap; values change with relaxed atomic adds or
 * stores, so publishing costs a hash, a few compares and one atomic
 * instruction, never a lock, a system call or a wait on the reader.
 * relay-master creates the files (root) with the publisher as owner and
 * relay-metrics' group able to read; relay-metrics reads them with
 * metrics_read() and never writes.  Counters live as long as the file:
 * a restarted daemon keeps counting where it stopped.
 *
 * Publishing never fails the caller: without a usable file the area is
 * private memory (nobody sees it) and a full area drops new series. */
#ifndef METRICS_H
#define METRICS_H

#include "metrics_def.h"

#include <stddef.h>
#include <stdint.h>

#define METRICS_DIR "metrics"          /* under the instance directory */
/* the publishers' areas in it (ctl/master_layout.c creates them) */
#define METRICS_SMTPD "smtpd"           /* relay-listen, relay-smtpd */
#define METRICS_POLICY "policy"
#define METRICS_QUEUE "queue"
#define METRICS_SEND "send"
#define METRICS_REMOTE "remote"
#define METRICS_MAGIC "RBXMETR\n"
#define METRICS_VERSION 1
#define METRICS_SLOTS 1024
#define METRICS_HEAD 4096
#define METRICS_LABELS_MAX 108          /* label text, NUL included */
#define METRICS_FILE_SIZE (METRICS_HEAD + METRICS_SLOTS * 128)
/* a histogram's parts: buckets 0..METRICS_BUCKETS-1, then +Inf (the
 * count), then the sum in milliseconds */
#define METRICS_PART_INF METRICS_BUCKETS
#define METRICS_PART_SUM (METRICS_BUCKETS + 1)

/* Map DIR/metrics/<who> (created when missing and the folder lets us,
 * sized and initialised when new).  Returns 0, or -1 after one warning
 * line when only private memory could be had.  Call once per process,
 * after the privilege drop; calls before it count into nothing. */
int metrics_open(const char *dir, const char *who);

/* Format label pairs (name, value, ..., NULL; at most 8) as Prometheus
 * label text, values escaped (\\, \", \n) and valid UTF-8 (a byte that
 * starts no character becomes U+FFFD).  Every pair is written: a value
 * too long for n is cut between two characters, leaving the later pairs
 * their room, and ends in "~" and 8 hex digits of a hash of the whole
 * value (so two values alike at first stay apart).  Returns buf ("" for
 * no pairs). */
const char *metrics_labels(char *buf, size_t n, ...)
	__attribute__((sentinel));

/* Add n to a counter series; -1 when the series has no slot (the
 * family's max_series reached or the area full: fold into "other"). */
int metrics_add(enum metrics_family f, uint64_t n, const char *labels);
/* Set a gauge series (single-writer families only). */
int metrics_set(enum metrics_family f, int64_t v, const char *labels);
/* The value of one's own series (0 when new), e.g. to set a gauge once. */
int64_t metrics_get(enum metrics_family f, const char *labels);
/* Count one observation of a histogram series. */
int metrics_observe(enum metrics_family f, double seconds,
		    const char *labels);

/* The reader's side: one series as read from an area. */
struct metrics_sample {
	unsigned family;                 /* < METRICS_NFAMILIES */
	unsigned part;                   /* histogram part, else 0 */
	char labels[METRICS_LABELS_MAX]; /* checked label text */
	uint64_t value;
};

/* Read the area at path, publisher who's (METRICS_SMTPD...): its series
 * whose family, part and label text check out and whose family who owns
 * (a hostile area gives fewer samples, never bad text nor another
 * daemon's series).  *foreign (when not NULL) is set to the number of
 * slots of families who does not own, ignored.  Returns the number of
 * samples (at most max) or -1 with errno. */
int metrics_read(const char *path, const char *who,
		 struct metrics_sample *out, size_t max, size_t *foreign);

/* 1 when s is well-formed label text (name="value" pairs, escaped,
 * values valid UTF-8). */
int metrics_labels_ok(const char *s);

#endif
