/* mon_page_dest.c: the status page's table of the destinations (the
 * recipients' domains) that defer or bounce most, from relay-send's
 * per-destination counters, with since when each has been deferring. */
#include "mon.h"
#include "settings.h"

#include <stdlib.h>
#include <string.h>

#define DEST_ROWS 20
#define DEST_MAX 1024

struct dest_row {
	char labels[METRICS_LABELS_MAX];  /* destination="..." */
	uint64_t n[3];                     /* sent, deferred, bounced */
	long since;
};

static int row_cmp(const void *a, const void *b)
{
	const struct dest_row *x = a, *y = b;
	uint64_t bx = x->n[1] + x->n[2], by = y->n[1] + y->n[2];
	return bx != by ? (bx < by ? 1 : -1) : strcmp(x->labels, y->labels);
}

/* The row of the sample's destination (its label text up to the comma
 * before result=), made when new; NULL when the table is full. */
static struct dest_row *row_of(struct dest_row *t, size_t *n,
			       const char *labels)
{
	const char *cut = strstr(labels, ",result=");
	size_t len = cut ? (size_t)(cut - labels) : strlen(labels);

	for (size_t i = 0; i < *n; i++)
		if (!strncmp(t[i].labels, labels, len) && !t[i].labels[len])
			return &t[i];
	if (*n == DEST_MAX || len >= METRICS_LABELS_MAX)
		return NULL;
	memcpy(t[*n].labels, labels, len);
	t[*n].labels[len] = '\0';
	return &t[(*n)++];
}

static size_t rows(const struct mon_snap *sn, struct dest_row *t)
{
	static const char *const res[3] = { "result=\"sent\"",
		"result=\"deferred\"", "result=\"bounced\"" };
	struct dest_row *r;
	size_t n = 0;

	for (size_t i = 0; i < sn->n; i++) {
		const struct metrics_sample *s = &sn->s[i];
		if (s->family != METRIC_DEST_DELIVERIES &&
		    s->family != METRIC_DEST_DEFERRING)
			continue;
		if (!(r = row_of(t, &n, s->labels)))
			continue;
		if (s->family == METRIC_DEST_DEFERRING)
			r->since = (long)s->value;
		for (int k = 0; k < 3; k++)
			if (s->family == METRIC_DEST_DELIVERIES &&
			    strstr(s->labels, res[k]))
				r->n[k] += s->value;
	}
	qsort(t, n, sizeof *t, row_cmp);
	return n;
}

/* The destination's name out of destination="..." (still escaped for a
 * label: \\ \" \n), unescaped into buf. */
static const char *dest_name(const char *labels, char *buf, size_t n)
{
	const char *p = labels + strlen("destination=\"");
	size_t i = 0;

	for (; *p && *p != '"' && i + 1 < n; p++) {
		if (*p == '\\' && p[1])
			p++;
		buf[i++] = *p;
	}
	buf[i] = '\0';
	return buf;
}

void mon_page_destinations(struct mon_buf *b, const struct mon_snap *sn)
{
	struct dest_row *t = calloc(DEST_MAX, sizeof *t);
	char name[METRICS_LABELS_MAX];
	size_t n;

	if (!t)
		return;
	n = rows(sn, t);
	mon_printf(b, "<h2>Destinations deferring or bouncing most</h2>\n"
		      "<table id=\"destinations\"><tr><th>destination</th>"
		      "<th>sent</th><th>deferred</th><th>bounced</th>"
		      "<th>deferring for (s)</th></tr>\n");
	for (size_t i = 0; i < n && i < DEST_ROWS; i++) {
		if (!t[i].n[1] && !t[i].n[2])
			break;
		mon_printf(b, "<tr%s><td>", t[i].since > 0 &&
			   sn->now - t[i].since > cf.metrics_alert_defer ?
			   " class=\"alert\"" : "");
		mon_html(b, dest_name(t[i].labels, name, sizeof name));
		mon_printf(b, "</td><td>%llu</td><td>%llu</td><td>%llu</td>"
			   "<td>%ld</td></tr>\n", (unsigned long long)t[i].n[0],
			   (unsigned long long)t[i].n[1],
			   (unsigned long long)t[i].n[2],
			   t[i].since > 0 ? sn->now - t[i].since : 0);
	}
	mon_printf(b, "</table>\n");
	free(t);
}
