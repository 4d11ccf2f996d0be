/* mon_page_log.c: the log search page.  The search is relayctl log's own
 * (lib/logsearch.h), so both find the same lines; at most LOG_LINES are
 * shown, from the newest MON_LOG_BYTES of the log searched for at most
 * MON_LOG_SECONDS: a thread of relay-metrics is not held for as long as
 * a log of any size takes, and the page says what was left out.  Every
 * field and line is escaped for HTML. */
#include "mon.h"
#include "logsearch.h"
#include "settings.h"

#include <string.h>

#define LOG_LINES 2000

static void field(struct mon_buf *b, const char *name, const char *label,
		  const char *v)
{
	mon_printf(b, "<label>%s <input type=\"text\" name=\"%s\" id=\"%s\" "
		      "value=\"", label, name, name);
	mon_html(b, v ? v : "");
	mon_printf(b, "\"></label>\n");
}

void mon_page_log_form(struct mon_buf *b, const struct mon_log_query *q)
{
	mon_printf(b, "<form method=\"get\" action=\"/log\">\n");
	field(b, "id", "queue id", q->id);
	field(b, "from", "sender", q->from);
	field(b, "to", "recipient", q->to);
	field(b, "ip", "client IP", q->ip);
	field(b, "since", "since", q->since);
	field(b, "until", "until", q->until);
	mon_printf(b, "<input type=\"submit\" id=\"search\" value=\"search\">"
		      "</form>\n<p>TIME: 2026-11-23, 2026-11-23 12:30, 12:30, "
		      "2h, 30m, 1d (as relayctl log)</p>\n");
}

static void emit(void *arg, const char *line)
{
	mon_html(arg, line);
}

/* What the budget left out, in words (s.cut was set). */
static void cut_note(struct mon_buf *b, const struct logsearch *s)
{
	mon_printf(b, "<p id=\"cut\">search cut short:");
	if (s->cut & LOGSEARCH_CUT_BYTES)
		mon_printf(b, " only the newest %lld MB of the log were "
			      "searched%s", MON_LOG_BYTES >> 20,
			   s->cut & LOGSEARCH_CUT_TIME ? ";" : ".");
	if (s->cut & LOGSEARCH_CUT_TIME)
		mon_printf(b, " the search stopped after %d s, so newer "
			      "lines were not searched.", MON_LOG_SECONDS);
	mon_printf(b, " relayctl log searches the whole log.</p>\n");
}

int mon_page_log(struct mon_buf *b, const struct mon_log_query *q)
{
	struct logsearch s;
	int given = q->id || q->from || q->to || q->ip || q->since || q->until;

	mon_page_head(b, "log search");
	mon_page_log_form(b, q);
	if (!given) {
		mon_page_foot(b);
		return 0;
	}
	memset(&s, 0, sizeof s);
	s.id = q->id;
	s.from = q->from;
	s.to = q->to;
	s.ip = q->ip;
	if ((q->since && logsearch_time(q->since, s.since, sizeof s.since) < 0) ||
	    (q->until && logsearch_time(q->until, s.until, sizeof s.until) < 0)) {
		mon_printf(b, "<p id=\"error\">unreadable time</p>\n");
		mon_page_foot(b);
		return 0;
	}
	s.emit = emit;
	s.arg = b;
	s.limit = LOG_LINES;
	s.max_bytes = MON_LOG_BYTES;
	s.max_ms = MON_LOG_SECONDS * 1000L;
	mon_printf(b, "<pre id=\"lines\">");
	logsearch_run(&s, cf.log_file);
	mon_printf(b, "</pre>\n");
	if (*s.error) {
		mon_printf(b, "<p id=\"error\">cannot read the log: ");
		mon_html(b, s.error);
		mon_printf(b, "</p>\n");
	}
	mon_printf(b, "<p id=\"count\">%ld line%s%s</p>\n", s.printed,
		   s.printed == 1 ? "" : "s",
		   s.printed >= LOG_LINES ? " (the first ones only)" : "");
	if (s.cut)
		cut_note(b, &s);
	mon_page_foot(b);
	return s.cut;
}
