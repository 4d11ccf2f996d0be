/* rate_grow.c: grow the counters file when the settings ask for more than
 * it holds (rate_users_max, rate_customers_max or rate_user_rcpt_slots
 * raised), so that a capacity change keeps every counter: a file with the
 * larger geometry is written beside it (PATH.new), every record copied
 * under the same number (user recipient sets rehashed into their new
 * size), the indexes rebuilt, then it is renamed over the old one.  Runs in
 * the writer at open, with the old file's exclusive lock held.  Never
 * shrinks: a smaller setting is ignored. */
#include "rate_file.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t max32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

int rate_grow_needed(const struct rate_hdr *h)
{
	struct rate_hdr w;

	rate_file_wanted(&w);
	return w.user_cap > h->user_cap || w.cust_cap > h->cust_cap ||
	       w.set_slots > h->set_slots;
}

static unsigned char *rec_at(const struct rate_map *m, enum rate_kind k,
			     uint32_t i)
{
	size_t sz = k == RATE_USER ? m->h->user_size : m->h->cust_size;
	return m->recs[k] + (size_t)i * sz;
}

static void idx_put(struct rate_map *m, enum rate_kind k, uint64_t hash,
		    uint32_t i)
{
	uint32_t *ix = m->idx[k];
	uint32_t mask = (k == RATE_USER ? m->h->uidx_n : m->h->cidx_n) - 1;
	uint32_t s = (uint32_t)hash & mask;

	while (ix[s])
		s = (s + 1) & mask;
	ix[s] = i + 1;
}

/* A user record with its recipient set rehashed into the new size (the
 * same probing as policy/rate_set.c: slot hash % slots, then linear). */
static void copy_user(const struct rate_map *o, struct rate_map *n, uint32_t i)
{
	const struct rate_user *src = (const void *)rec_at(o, RATE_USER, i);
	struct rate_user *dst = (void *)rec_at(n, RATE_USER, i);
	const struct rate_ent *se = (const void *)(src + 1);
	struct rate_ent *de = (void *)(dst + 1);
	uint32_t ns = n->h->set_slots, k;
	uint64_t h;

	memcpy(dst, src, sizeof *dst);
	dst->set_used = 0;
	for (uint32_t j = 0; j < o->h->set_slots; j++) {
		if (!se[j].min1)
			continue;
		h = (uint64_t)se[j].hhi << 32 | se[j].hlo;
		for (k = (uint32_t)(h % ns); de[k].min1; k = (k + 1) % ns)
			;
		de[k] = se[j];
		dst->set_used++;
	}
}

static void copy_all(const struct rate_map *o, struct rate_map *n)
{
	for (uint32_t i = 0; i < o->h->user_used; i++) {
		copy_user(o, n, i);
		idx_put(n, RATE_USER, ((struct rate_rec *)rec_at(n, RATE_USER, i))->hash, i);
	}
	for (uint32_t i = 0; i < o->h->cust_used; i++) {
		memcpy(rec_at(n, RATE_CUSTOMER, i), rec_at(o, RATE_CUSTOMER, i),
		       o->h->cust_size);
		idx_put(n, RATE_CUSTOMER,
			((struct rate_rec *)rec_at(n, RATE_CUSTOMER, i))->hash, i);
	}
	n->h->user_used = o->h->user_used;
	n->h->cust_used = o->h->cust_used;
	n->h->created = o->h->created;
}

/* Create and map PATH.new with geometry g; -1 on error. */
static int map_new(const char *tmp, const struct rate_hdr *g,
		   struct rate_map *n)
{
	struct rate_hdr h = *g;

	n->fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		     0640);
	if (n->fd < 0 || rate_file_create(n->fd, &h) < 0)
		return -1;
	/* relay-policy's, and relay-metrics' group through the folder's
	 * setgid bit (RATE_DIR), as the file it replaces */
	if (fchmod(n->fd, 0640) < 0)
		return -1;
	n->base = mmap(NULL, h.file_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       n->fd, 0);
	if (n->base == MAP_FAILED) {
		n->base = NULL;
		return -1;
	}
	n->size = h.file_size;
	n->h = (struct rate_hdr *)n->base;
	rate_file_sections(n);
	return 0;
}

int rate_grow(const char *path)
{
	struct rate_map n = { .fd = -1 };
	struct rate_hdr g, w, *o = rate_map.h;
	char tmp[4096];

	rate_file_wanted(&w);
	rate_file_geometry(&g, max32(w.user_cap, o->user_cap),
			   max32(w.cust_cap, o->cust_cap),
			   max32(w.set_slots, o->set_slots));
	snprintf(tmp, sizeof tmp, "%s.new", path);
	if (map_new(tmp, &g, &n) < 0)
		goto fail;
	copy_all(&rate_map, &n);
	if (msync(n.base, n.size, MS_SYNC) < 0 || rename(tmp, path) < 0)
		goto fail;
	log_info("counters file %s grown to %u users, %u customers, %u "
		 "recipients per user", path, g.user_cap, g.cust_cap,
		 g.set_slots);
	munmap(rate_map.base, rate_map.size);
	close(rate_map.fd);
	n.rdonly = 0;
	rate_map = n;
	return 0;
fail:
	log_warn("counters file %s: cannot grow (%s): keeping its size", path,
		 strerror(errno));
	if (n.base)
		munmap(n.base, n.size);
	if (n.fd >= 0)
		close(n.fd);
	unlink(tmp);
	return -1;
}
