/* metrics_read.c: the reader's side of metrics.h.  relay-metrics trusts
 * an area no more than its writer's uid: it copies the file with pread
 * (a file cut short is a short read, never a SIGBUS), checks the header,
 * and takes a slot only when its family, part and label text check out,
 * and the family is one the area's publisher owns (metrics_def.h), so a
 * taken-over daemon can publish wrong numbers for its own series but
 * never for another daemon's, never a line of its own making in the
 * exposition, nor a label that is not UTF-8 (the text format's rule: it
 * would void the scrape). */
#include "metrics.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the layout of metrics.c, read as plain bytes */
#define SLOT_SIZE 128
#define OFF_STATE 8
#define OFF_FAMILY 16
#define OFF_PART 18
#define OFF_DEAD 19
#define OFF_LABELS 20
#define STATE_READY 2

static int name_char(int c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* One name="value" pair at *s; advances past it. */
static int label_pair_ok(const char **s)
{
	const char *p = *s;

	if (!name_char((unsigned char)*p, 1))
		return 0;
	while (name_char((unsigned char)*p, 0))
		p++;
	if (*p++ != '=' || *p++ != '"')
		return 0;
	for (; *p != '"'; p++) {
		if (*p == '\\') {
			p++;
			if (*p != '\\' && *p != '"' && *p != 'n')
				return 0;
		} else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			return 0;  /* NUL (the end) included */
		} else if ((unsigned char)*p >= 0x80) {
			/* one bad byte would make the whole scrape unreadable */
			size_t k = utf8_char_len(p, strnlen(p, 4));
			if (k == 0)
				return 0;
			p += k - 1;
		}
	}
	*s = p + 1;
	return 1;
}

int metrics_labels_ok(const char *s)
{
	if (!*s)
		return 1;
	for (;;) {
		if (!label_pair_ok(&s))
			return 0;
		if (!*s)
			return 1;
		if (*s++ != ',')
			return 0;
	}
}

static int part_ok(unsigned family, unsigned part)
{
	if (metrics_families[family].type == METRICS_HISTOGRAM)
		return part <= METRICS_PART_SUM;
	return part == 0;
}

/* 1 when the slot at p is a sample of who's, copied to out; 0 when it
 * is none, -1 when it is a family another publisher owns. */
static int sample_from(const unsigned char *p, const char *who,
		       struct metrics_sample *out)
{
	uint32_t state;
	uint16_t family;

	memcpy(&state, p + OFF_STATE, 4);
	memcpy(&family, p + OFF_FAMILY, 2);
	if (state != STATE_READY || p[OFF_DEAD] || family >= METRICS_NFAMILIES ||
	    !part_ok(family, p[OFF_PART]))
		return 0;
	if (strcmp(metrics_families[family].owner, who))
		return -1;
	if (!memchr(p + OFF_LABELS, '\0', METRICS_LABELS_MAX))
		return 0;
	memcpy(out->labels, p + OFF_LABELS, METRICS_LABELS_MAX);
	if (!metrics_labels_ok(out->labels))
		return 0;
	out->family = family;
	out->part = p[OFF_PART];
	memcpy(&out->value, p, 8);
	return 1;
}

static int head_ok(const unsigned char *buf)
{
	uint32_t v[4];

	memcpy(v, buf + 8, sizeof v);
	return !memcmp(buf, METRICS_MAGIC, 8) && v[0] == METRICS_VERSION &&
	       v[1] == METRICS_SLOTS && v[2] == SLOT_SIZE &&
	       v[3] == METRICS_HEAD;
}

int metrics_read(const char *path, const char *who,
		 struct metrics_sample *out, size_t max, size_t *foreign)
{
	unsigned char *buf;
	ssize_t got;
	size_t n = 0;
	int fd, e, r;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	buf = malloc(METRICS_FILE_SIZE);
	got = buf ? pread(fd, buf, METRICS_FILE_SIZE, 0) : -1;
	e = errno;
	close(fd);
	if (got != METRICS_FILE_SIZE || !head_ok(buf)) {
		free(buf);
		errno = got < 0 ? e : EINVAL;
		return -1;
	}
	if (foreign)
		*foreign = 0;
	for (size_t i = 0; i < METRICS_SLOTS && n < max; i++) {
		r = sample_from(buf + METRICS_HEAD + i * SLOT_SIZE, who, out + n);
		if (r > 0)
			n++;
		else if (r < 0 && foreign)
			(*foreign)++;
	}
	free(buf);
	return (int)n;
}
