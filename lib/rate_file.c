/* rate_file.c: the counters file — create, validate, map (MAP_SHARED), and
 * find or create user and customer records through two open-addressing
 * indexes.  Layout: a 4 KiB header, the user index, the customer index
 * (u32 slots: 0 empty, else record number + 1), then fixed-size user and
 * customer records.  Capacity is fixed when the file is created; a record
 * idle for a whole day is reused when the file is full. */
#include "rate_file.h"
#include "log.h"
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HDR_SIZE 4096
#define CAP_MAX 1000000
/* A reader waits for the writer to leave (rate_file_read_begin): a few
 * looks at once, then one every 100 us until the reader's deadline.  The
 * writer is inside for microseconds, so only a hostile or killed one
 * makes a reader wait that long. */
#define READ_SPINS 64
#define READ_NAP_NS 100000L

struct rate_map rate_map = { .fd = -1 };

/* where ARCHITECTURE.md says the seqlock is, in files old and new */
_Static_assert(offsetof(struct rate_hdr, seq) == 88, "rate_hdr.seq moved");

uint64_t rate_file_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a 64-bit mixer */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)tolower((unsigned char)s[i]);
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

int rate_file_lower(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n == 0 || n >= RATE_NAME_MAX)
		return -1;
	for (size_t i = 0; i <= n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	return 0;
}

static uint32_t pow2_at_least(uint32_t x)
{
	uint32_t p = 16;
	while (p < x)
		p <<= 1;
	return p;
}

static uint32_t round64(size_t x)
{
	return (uint32_t)((x + 63) & ~(size_t)63);
}

static long setting_or(long v, long def)
{
	return v > 0 ? v : def;
}

/* The geometry a new file gets, and every size derived from it. */
void rate_file_geometry(struct rate_hdr *h, uint32_t ucap, uint32_t ccap,
			uint32_t slots)
{
	memset(h, 0, sizeof *h);
	memcpy(h->magic, RATE_MAGIC, 8);
	h->version = RATE_VERSION;
	h->hdr_size = HDR_SIZE;
	h->user_cap = ucap;
	h->cust_cap = ccap;
	h->uidx_n = pow2_at_least(2 * ucap);
	h->cidx_n = pow2_at_least(2 * ccap);
	h->set_slots = slots;
	h->user_size = round64(sizeof(struct rate_user) +
			       (size_t)slots * sizeof(struct rate_ent));
	h->cust_size = round64(sizeof(struct rate_cust));
	h->day_unit = RATE_DAY_UNIT;
	h->day_n = RATE_DAY_N;
	h->peak_unit = RATE_PEAK_UNIT;
	h->peak_n = RATE_PEAK_N;
	h->file_size = HDR_SIZE + 4ULL * (h->uidx_n + h->cidx_n) +
		       (uint64_t)ucap * h->user_size +
		       (uint64_t)ccap * h->cust_size;
}

/* A header is trusted only when it is exactly what its own caps imply. */
static int header_ok(const struct rate_hdr *h, uint64_t st_size)
{
	struct rate_hdr g;

	if (memcmp(h->magic, RATE_MAGIC, 8) || h->version != RATE_VERSION ||
	    h->user_cap < 1 || h->user_cap > CAP_MAX || h->cust_cap < 1 ||
	    h->cust_cap > CAP_MAX || h->set_slots < 64 ||
	    h->set_slots > 10000000)
		return 0;
	rate_file_geometry(&g, h->user_cap, h->cust_cap, h->set_slots);
	return h->hdr_size == g.hdr_size && h->uidx_n == g.uidx_n &&
	       h->cidx_n == g.cidx_n && h->user_size == g.user_size &&
	       h->cust_size == g.cust_size && h->day_unit == g.day_unit &&
	       h->day_n == g.day_n && h->peak_unit == g.peak_unit &&
	       h->peak_n == g.peak_n && h->file_size == g.file_size &&
	       h->file_size == st_size && h->user_used <= h->user_cap &&
	       h->cust_used <= h->cust_cap;
}

/* The geometry the settings ask for (defaults when unset). */
void rate_file_wanted(struct rate_hdr *h)
{
	rate_file_geometry(h, (uint32_t)setting_or(cf.rate_users_max, 2048),
			   (uint32_t)setting_or(cf.rate_customers_max, 1024),
			   (uint32_t)setting_or(cf.rate_user_rcpt_slots, 12800));
}

/* Size fd for h (sparse: only the records in use take memory and disk)
 * and write the header. */
int rate_file_create(int fd, struct rate_hdr *h)
{
	h->created = (int64_t)time(NULL);
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)h->file_size) < 0 ||
	    pwrite(fd, h, sizeof *h, 0) != (ssize_t)sizeof *h)
		return -1;
	return 0;
}

/* Leave a valid header of fd in h, creating the file when writable and
 * empty: 0 done, -1 error, 1 when the file was bad and has been moved
 * aside as PATH.bad (the caller opens PATH afresh). */
static int file_prepare(const char *path, int fd, int rdonly,
			struct rate_hdr *h)
{
	struct stat st;
	char bad[4096];

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) { /* a FIFO or device put in its place */
		errno = EINVAL;
		return -1;
	}
	if (st.st_size == 0 && !rdonly) {
		rate_file_wanted(h);
		/* whatever the umask: relay-metrics reads it via the group */
		if (fchmod(fd, 0640) < 0)
			return -1;
		return rate_file_create(fd, h);
	}
	if (st.st_size == 0) { /* just created by relay-policy, not sized yet */
		errno = ENOENT;
		return -1;
	}
	memset(h, 0, sizeof *h);
	if (pread(fd, h, sizeof *h, 0) == (ssize_t)sizeof *h &&
	    header_ok(h, (uint64_t)st.st_size))
		return 0;
	if (rdonly) { /* no magic yet: sized, the header not yet written */
		errno = memcmp(h->magic, "\0\0\0\0\0\0\0\0", 8) ? EINVAL
								 : ENOENT;
		return -1;
	}
	/* another version or damaged: keep it for a look, start afresh */
	snprintf(bad, sizeof bad, "%s.bad", path);
	log_warn("counters file %s: bad header or version, moved to %s", path,
		 bad);
	return rename(path, bad) < 0 ? -1 : 1;
}

void rate_file_sections(struct rate_map *m)
{
	struct rate_hdr *h = m->h;
	unsigned char *p = m->base + HDR_SIZE;

	m->idx[RATE_USER] = (uint32_t *)p;
	p += 4ULL * h->uidx_n;
	m->idx[RATE_CUSTOMER] = (uint32_t *)p;
	p += 4ULL * h->cidx_n;
	m->recs[RATE_USER] = p;
	m->recs[RATE_CUSTOMER] = p + (size_t)h->user_cap * h->user_size;
}

/* Open and check (or create) the file; -1 on error.  No lock: see
 * rate_file.h (a second writer is kept out by relay-master, which runs
 * one relay-policy per instance).  The writer runs as user_policy, in
 * its own folder (RATE_DIR): never as root. */
static int file_open_fd(const char *path, int rdonly, struct rate_hdr *h)
{
	int rc = 1;

	for (int tries = 0; rc == 1 && tries < 2; tries++) {
		if (rate_map.fd >= 0)
			close(rate_map.fd);
		/* the folder is relay-policy's: relayctl (root) follows no
		 * link there and waits on no FIFO */
		rate_map.fd = open(path, O_NOFOLLOW | O_CLOEXEC |
					 (rdonly ? O_RDONLY | O_NONBLOCK
						 : O_RDWR | O_CREAT),
				   0640);
		if (rate_map.fd < 0)
			return -1;
		rc = file_prepare(path, rate_map.fd, rdonly, h);
	}
	return rc == 0 ? 0 : -1;
}

int rate_file_open(const char *path, int rdonly)
{
	struct rate_hdr h;

	rate_file_close();
	rate_map.rdonly = rdonly;
	if (file_open_fd(path, rdonly, &h) < 0)
		goto fail;
	rate_map.base = mmap(NULL, h.file_size,
			     rdonly ? PROT_READ : PROT_READ | PROT_WRITE,
			     MAP_SHARED, rate_map.fd, 0);
	if (rate_map.base == MAP_FAILED) {
		rate_map.base = NULL;
		goto fail;
	}
	rate_map.size = h.file_size;
	rate_map.geo = h;
	rate_map.h = rdonly ? &rate_map.geo : (struct rate_hdr *)rate_map.base;
	rate_file_sections(&rate_map);
	if (!rdonly && rate_grow_needed(rate_map.h))
		rate_grow(path); /* on failure the old file stays in use */
	if (!rdonly) { /* a writer killed inside left seq odd: even again */
		rate_file_write_begin();
		rate_file_write_end();
	}
	return 0;
fail:
	rate_file_close();
	return -1;
}

void rate_file_close(void)
{
	int e = errno;

	if (rate_map.base) {
		if (!rate_map.rdonly)
			msync(rate_map.base, rate_map.size, MS_SYNC);
		munmap(rate_map.base, rate_map.size);
	}
	if (rate_map.fd >= 0)
		close(rate_map.fd);
	memset(&rate_map, 0, sizeof rate_map);
	rate_map.fd = -1;
	errno = e;
}

/* The seqlock (rate_file.h).  Release/acquire on seq and the fences
 * order the record's bytes against it between the two processes: a
 * reader that saw the same even seq before and after its copy read no
 * byte the writer changed in between. */
void rate_file_write_begin(void)
{
	uint64_t *seq = &rate_map.h->seq;
	uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);

	__atomic_store_n(seq, s | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

void rate_file_write_end(void)
{
	uint64_t *seq = &rate_map.h->seq;
	uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);

	__atomic_store_n(seq, (s | 1) + 1, __ATOMIC_RELEASE);
}

/* A reader's view of seq: the live header in the map, never geo. */
static const uint64_t *live_seq(void)
{
	return &((const struct rate_hdr *)(const void *)rate_map.base)->seq;
}

int64_t rate_file_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int rate_file_read_late(int64_t deadline)
{
	return rate_file_now_ns() >= deadline;
}

int rate_file_read_begin(uint64_t *s, int64_t deadline)
{
	const struct timespec nap = { 0, READ_NAP_NS };

	for (int i = 0;; i++) {
		*s = __atomic_load_n(live_seq(), __ATOMIC_ACQUIRE);
		if (!(*s & 1))
			return 0;
		if (i < READ_SPINS)
			continue;
		if (rate_file_read_late(deadline))
			break;
		nanosleep(&nap, NULL);
	}
	errno = EAGAIN;
	return -1;
}

int rate_file_read_changed(uint64_t s)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(live_seq(), __ATOMIC_RELAXED) != s;
}

uint32_t rate_file_cap(enum rate_kind k)
{
	return k == RATE_USER ? rate_map.h->user_cap : rate_map.h->cust_cap;
}

uint32_t rate_file_used(enum rate_kind k)
{
	const volatile struct rate_hdr *live = (const void *)rate_map.base;
	uint32_t used;

	if (!rate_map.rdonly)
		return k == RATE_USER ? rate_map.h->user_used
				      : rate_map.h->cust_used;
	/* a reader: the live count, never past the capacity checked at open */
	used = k == RATE_USER ? live->user_used : live->cust_used;
	return used < rate_file_cap(k) ? used : rate_file_cap(k);
}

struct rate_rec *rate_file_rec(enum rate_kind k, uint32_t i)
{
	size_t sz = k == RATE_USER ? rate_map.h->user_size
				   : rate_map.h->cust_size;
	return (struct rate_rec *)(rate_map.recs[k] + (size_t)i * sz);
}
