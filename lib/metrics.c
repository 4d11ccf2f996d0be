/* metrics.c: the publishing side of metrics.h, a fixed-size area of
 * slots in a shared file, updated with relaxed atomics. */
#include "metrics.h"
#include "log.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAMILY_MAX 64

struct metrics_slot {
	_Atomic uint64_t value;
	_Atomic uint32_t state;         /* SLOT_FREE, SLOT_BUSY, SLOT_READY */
	uint32_t hash;
	uint16_t family;
	uint8_t part;
	uint8_t dead;                   /* claimed over the family's bound */
	char labels[METRICS_LABELS_MAX];
};

struct metrics_head {
	char magic[8];
	uint32_t version, slots, slot_size, head_size;
	_Atomic uint32_t series[FAMILY_MAX]; /* slots claimed per family */
};

_Static_assert(sizeof(struct metrics_slot) == 128, "slot size");
_Static_assert(sizeof(struct metrics_head) <= METRICS_HEAD, "head size");
_Static_assert(METRICS_NFAMILIES <= FAMILY_MAX, "too many families");

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY, SLOT_STUCK };

#define METRICS_DEF(id, nm, ty, max, own, hl) \
	{ nm, METRICS_##ty, max, METRICS_##own, hl },
const struct metrics_family_def metrics_families[METRICS_NFAMILIES] = {
	METRICS_FAMILIES(METRICS_DEF)
};
#undef METRICS_DEF

const double metrics_buckets[METRICS_BUCKETS] = {
	1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 5 * 86400
};

static unsigned char *area;     /* METRICS_FILE_SIZE bytes, NULL: none */

static struct metrics_head *head(void)
{
	return (struct metrics_head *)area;
}

static struct metrics_slot *slot(uint32_t i)
{
	return (struct metrics_slot *)(area + METRICS_HEAD) + i;
}

/* A fresh area (all zero) gets its header; an area of another layout is
 * zeroed first.  Two processes doing this at once write the same bytes. */
static void area_init(void)
{
	struct metrics_head *h = head();

	if (!memcmp(h->magic, METRICS_MAGIC, 8) &&
	    h->version == METRICS_VERSION && h->slots == METRICS_SLOTS &&
	    h->slot_size == 128 && h->head_size == METRICS_HEAD)
		return;
	memset(area, 0, METRICS_FILE_SIZE);
	h->version = METRICS_VERSION;
	h->slots = METRICS_SLOTS;
	h->slot_size = 128;
	h->head_size = METRICS_HEAD;
	memcpy(h->magic, METRICS_MAGIC, 8);
}

static void *map_private(void)
{
	void *p = mmap(NULL, METRICS_FILE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void *map_file(const char *path)
{
	struct stat st;
	void *p = NULL;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_size >= METRICS_FILE_SIZE ||
	     ftruncate(fd, METRICS_FILE_SIZE) == 0)) {
		p = mmap(NULL, METRICS_FILE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			p = NULL;
	} else {
		errno = EINVAL;
	}
	close(fd);
	return p;
}

int metrics_open(const char *dir, const char *who)
{
	char path[4096];
	void *p = NULL;

	if (area)
		return 0;
	if ((size_t)snprintf(path, sizeof path, "%s/%s/%s", dir, METRICS_DIR,
			     who) < sizeof path)
		p = map_file(path);
	if (!p && errno != ENOENT) {  /* no metrics/: not under relay-master */
		log_warn("metrics: %s: %s (counting in private memory)", path,
			 strerror(errno));
	}
	if (!p)
		p = map_private();
	area = p;
	if (area)
		area_init();
	return p && area ? 0 : -1;
}

static uint32_t series_hash(unsigned family, unsigned part,
			    const char *labels)
{
	uint32_t h = 2166136261u;       /* FNV-1a */

	h = (h ^ family) * 16777619u;
	h = (h ^ part) * 16777619u;
	for (; *labels; labels++)
		h = (h ^ (unsigned char)*labels) * 16777619u;
	return h;
}

/* Wait (briefly) for a slot another process is claiming; SLOT_STUCK
 * when it stays busy (that process died in the middle: skipped). */
static uint32_t slot_settled(struct metrics_slot *s)
{
	uint32_t st;

	for (int i = 0; i < 1000; i++) {
		st = atomic_load_explicit(&s->state, memory_order_acquire);
		if (st != SLOT_BUSY)
			return st;
		sched_yield();
	}
	return SLOT_STUCK;
}

static int slot_is(const struct metrics_slot *s, uint32_t h, unsigned family,
		   unsigned part, const char *labels)
{
	return s->hash == h && s->family == family && s->part == part &&
	       !strncmp(s->labels, labels, METRICS_LABELS_MAX);
}

/* Claim s for the series; 0 when another process took it first. */
static int slot_claim(struct metrics_slot *s, uint32_t h, unsigned family,
		      unsigned part, const char *labels)
{
	uint32_t want = SLOT_FREE;
	unsigned max = metrics_families[family].max_series;

	if (!atomic_compare_exchange_strong_explicit(&s->state, &want,
						     SLOT_BUSY,
						     memory_order_acquire,
						     memory_order_relaxed))
		return 0;
	s->hash = h;
	s->family = (uint16_t)family;
	s->part = (uint8_t)part;
	snprintf(s->labels, sizeof s->labels, "%s", labels);
	if (max && part == 0 &&
	    atomic_fetch_add_explicit(&head()->series[family], 1,
				      memory_order_relaxed) >= max)
		s->dead = 1;  /* over the bound: found, never counted */
	atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
	return 1;
}

/* The value of a series, its slot claimed when new; NULL when none. */
static _Atomic uint64_t *series(unsigned family, unsigned part,
				const char *labels)
{
	uint32_t h = series_hash(family, part, labels);
	struct metrics_slot *s;

	if (!area || family >= METRICS_NFAMILIES ||
	    strlen(labels) >= METRICS_LABELS_MAX)
		return NULL;
	for (uint32_t n = 0; n < METRICS_SLOTS; n++) {
		s = slot((h + n) % METRICS_SLOTS);
		for (;;) {
			uint32_t st = slot_settled(s);
			if (st == SLOT_READY && slot_is(s, h, family, part,
							labels))
				return s->dead ? NULL : &s->value;
			if (st != SLOT_FREE ||
			    slot_claim(s, h, family, part, labels))
				break;
		}
		if (slot_is(s, h, family, part, labels))
			return s->dead ? NULL : &s->value;
	}
	return NULL;
}

int metrics_add(enum metrics_family f, uint64_t n, const char *labels)
{
	_Atomic uint64_t *v = series(f, 0, labels);

	if (!v)
		return -1;
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
	return 0;
}

int metrics_set(enum metrics_family f, int64_t v, const char *labels)
{
	_Atomic uint64_t *p = series(f, 0, labels);

	if (!p)
		return -1;
	atomic_store_explicit(p, (uint64_t)v, memory_order_relaxed);
	return 0;
}

int64_t metrics_get(enum metrics_family f, const char *labels)
{
	_Atomic uint64_t *p = series(f, 0, labels);

	return p ? (int64_t)atomic_load_explicit(p, memory_order_relaxed) : 0;
}

int metrics_observe(enum metrics_family f, double seconds,
		    const char *labels)
{
	_Atomic uint64_t *v;
	int rc = 0;

	if (seconds < 0)
		seconds = 0;
	for (unsigned i = 0; i < METRICS_BUCKETS; i++)
		if (seconds <= metrics_buckets[i] && (v = series(f, i, labels)))
			atomic_fetch_add_explicit(v, 1, memory_order_relaxed);
	if ((v = series(f, METRICS_PART_INF, labels)))
		atomic_fetch_add_explicit(v, 1, memory_order_relaxed);
	else
		rc = -1;
	if ((v = series(f, METRICS_PART_SUM, labels)))
		atomic_fetch_add_explicit(v, (uint64_t)(seconds * 1000),
					  memory_order_relaxed);
	return rc;
}

/* One character of a label value at c (left bytes): its bytes in the
 * text, escaped (\\, \", \n) or as U+FFFD for a byte that starts no
 * character (the text format requires UTF-8: one bad byte makes the
 * whole scrape unreadable); *k is set to the bytes it takes of c. */
static size_t value_char(const char *c, size_t left, size_t *k)
{
	if ((*k = utf8_char_len(c, left)) == 0) {
		*k = 1;
		return 3;
	}
	return (*c == '\\' || *c == '"' || *c == '\n') ? 2 : *k;
}

static size_t value_len(const char *v)
{
	size_t len = strlen(v), n = 0, k;

	for (size_t i = 0; i < len; i += k)
		n += value_char(v + i, len - i, &k);
	return n;
}

/* Append v, escaped, in at most room bytes, cut between two characters
 * when it does not fit. */
static size_t value_put(char *buf, size_t at, size_t room, const char *v)
{
	size_t len = strlen(v), end = at + room, k, need;

	for (size_t i = 0; i < len; i += k) {
		const char *c = v + i;
		need = value_char(c, len - i, &k);
		if (at + need > end)
			break;
		if (k == 1 && need == 3) {
			memcpy(buf + at, "\xef\xbf\xbd", 3);
		} else if (*c == '\\' || *c == '"' || *c == '\n') {
			buf[at] = '\\';
			buf[at + 1] = *c == '\n' ? 'n' : *c;
		} else {
			memcpy(buf + at, c, need);
		}
		at += need;
	}
	return at;
}

/* A value cut to fit ends in "~" and 8 hex digits of a hash of the whole
 * value, so that two values alike in their first bytes stay two series. */
#define CUT_MARK 9

static size_t value_cut(char *buf, size_t at, size_t room, const char *v)
{
	uint32_t h = 2166136261u;       /* FNV-1a */

	if (room < CUT_MARK)
		return value_put(buf, at, room, v);
	for (const char *p = v; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	at = value_put(buf, at, room - CUT_MARK, v);
	return at + (size_t)sprintf(buf + at, "~%08x", (unsigned)h);
}

struct label_pair {
	const char *name, *value;
};

/* What pairs i+1.. are kept: their names, quotes and commas, and each
 * value whole when short (a result, a kind), else its first bytes and
 * the mark: the room left goes to pair i. */
#define LATER_KEEP 32

static size_t rest_min(const struct label_pair *p, size_t i, size_t np)
{
	size_t need = 0, v;

	for (size_t j = i + 1; j < np; j++) {
		v = value_len(p[j].value);
		need += 1 + strlen(p[j].name) + 3 +
			(v < LATER_KEEP ? v : LATER_KEEP);
	}
	return need;
}

const char *metrics_labels(char *buf, size_t n, ...)
{
	struct label_pair p[8];
	size_t np = 0, at = 0, fixed, room, v;
	const char *name;
	va_list ap;

	va_start(ap, n);
	while (np < 8 && (name = va_arg(ap, const char *))) {
		p[np].name = name;
		p[np].value = va_arg(ap, const char *);
		if (!p[np].value)
			p[np].value = "";
		np++;
	}
	va_end(ap);
	buf[0] = '\0';
	/* every pair is written: a value is cut to leave the later pairs
	 * their room, never a pair dropped (two series alike but for it
	 * would print as one, which Prometheus refuses) */
	for (size_t i = 0; i < np; i++) {
		fixed = (at ? 1 : 0) + strlen(p[i].name) + 3;
		if (at + fixed + rest_min(p, i, np) >= n)
			break;  /* names alone do not fit: a caller's mistake */
		room = n - 1 - at - fixed - rest_min(p, i, np);
		at += (size_t)sprintf(buf + at, "%s%s=\"", at ? "," : "",
				      p[i].name);
		v = value_len(p[i].value);
		at = v <= room ? value_put(buf, at, room, p[i].value)
			       : value_cut(buf, at, room, p[i].value);
		buf[at++] = '"';
		buf[at] = '\0';
	}
	return buf;
}
