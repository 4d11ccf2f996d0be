/* queue_abuse_file.c: abuse/accounts and abuse/suspended (lib/abuse.h),
 * written by relay-queue alone, each as a temporary file renamed over
 * the old one.  The accounts file is the evidence relayctl shows and
 * what a restarted relay-queue starts from: a 24-hour count comes back
 * as one bucket of the hour of the start (an approximation: it leaves
 * the window up to a day late, never early).  The suspended file is what
 * relay-policy enforces; it is fsync'd (a suspension must not come back
 * from a crash undone), the accounts file is not (counters, not mail). */
#include "queue.h"
#include "abuse.h"
#include "log.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* accounts is 0600: its user names and device addresses are for root's
 * relayctl alone (relay-metrics hides them from the unauthenticated);
 * suspended is 0644, for relay-policy. */
static int file_replace(const char *rel, const char *text, size_t len,
			int sync, mode_t mode)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int fd;

	settings_path(path, sizeof path, rel);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0 || fchmod(fd, mode) < 0 ||
	    write(fd, text, len) != (ssize_t)len ||
	    (sync && fsync(fd) < 0) || close(fd) < 0 || rename(tmp, path) < 0) {
		log_warn("abuse: cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		return -1;
	}
	return 0;
}

static void add_line(char **buf, size_t *len, size_t *cap, const char *line)
{
	size_t n = strlen(line);
	char *p;

	if (*len + n + 1 > *cap) {
		size_t nc = (*cap + n + 1) * 2;
		if (!(p = realloc(*buf, nc)))
			return;
		*buf = p;
		*cap = nc;
	}
	memcpy(*buf + *len, line, n + 1);
	*len += n;
}

static void samples_text(const struct abuse_acct *a, char *out, size_t n)
{
	size_t k = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < AB_SAMPLES && i < a->nsample; i++) {
		const char *s = a->samples[(a->nsample - 1 - i) % AB_SAMPLES];
		k += (size_t)snprintf(out + k, n - k, "%s%s", k ? "," : "", s);
		if (k >= n)
			break;
	}
}

void queue_abuse_save(const struct abuse_acct *a, size_t n, int susp)
{
	char *buf = NULL, *sbuf = NULL, line[2048], samples[AB_SAMPLES * 65];
	size_t len = 0, cap = 0, slen = 0, scap = 0;
	add_line(&buf, &len, &cap, ABUSE_MAGIC "\n");
	for (size_t i = 0; i < n; i++) {
		samples_text(&a[i], samples, sizeof samples);
		snprintf(line, sizeof line, "%s=%s %s=%s %s=%s %s=%s %s=%u %s=%u "
			 "%s=%u %s=%u %s=%u %s=%.2f %s=%lld %s=%lld %s=%lld "
			 "%s=%s %s=%s %s=%s\n",
			 ABUSE_F_ACCOUNT, a[i].key, ABUSE_F_CUSTOMER,
			 *a[i].customer ? a[i].customer : "-", ABUSE_F_STATE,
			 queue_abuse_state_name(a[i].state), ABUSE_F_REASON,
			 *a[i].reason ? a[i].reason : "-",
			 ABUSE_F_SPAM, queue_abuse_sum(a[i].spam),
			 ABUSE_F_SCANNED, queue_abuse_sum(a[i].scanned),
			 ABUSE_F_DELIVERED, queue_abuse_sum(a[i].delivered),
			 ABUSE_F_BOUNCED, queue_abuse_sum(a[i].bounced),
			 ABUSE_F_REJECTED, queue_abuse_sum(a[i].rejected),
			 ABUSE_F_BASELINE, a[i].baseline, ABUSE_F_SINCE,
			 a[i].since, ABUSE_F_ALERTED, a[i].alerted, ABUSE_F_SUSPENDED,
			 a[i].suspended, ABUSE_F_ACKED,
			 *a[i].acked_by ? a[i].acked_by : "-",
			 ABUSE_F_SAMPLES, *samples ? samples : "-",
			 ABUSE_F_SYMBOLS, *a[i].symbols ? a[i].symbols : "-");
		add_line(&buf, &len, &cap, line);
		if (a[i].state == AB_SUSPENDED &&
		    abuse_susp_line(line, sizeof line, a[i].key) == 0)
			add_line(&sbuf, &slen, &scap, line);
	}
	if (buf)
		file_replace(ABUSE_ACCOUNTS, buf, len, 0, 0600);
	if (susp)
		file_replace(ABUSE_SUSPENDED, sbuf ? sbuf : "", slen, 1, 0644);
	free(buf);
	free(sbuf);
}

/* One word "key=value" of a line into a (what the file keeps). */
static void load_word(struct abuse_acct *a, const char *k, const char *v)
{
	if (!strcmp(k, ABUSE_F_ACCOUNT))
		snprintf(a->key, sizeof a->key, "%s", v);
	else if (!strcmp(k, ABUSE_F_CUSTOMER) && strcmp(v, "-"))
		snprintf(a->customer, sizeof a->customer, "%s", v);
	else if (!strcmp(k, ABUSE_F_STATE))
		a->state = !strcmp(v, "suspended") ? AB_SUSPENDED :
			   !strcmp(v, "alerted") ? AB_ALERTED : AB_OK;
	else if (!strcmp(k, ABUSE_F_SPAM))
		a->spam[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_SCANNED))
		a->scanned[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_DELIVERED))
		a->delivered[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_BOUNCED))
		a->bounced[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_REJECTED))
		a->rejected[a->hour % 24] = (unsigned)strtoul(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_BASELINE))
		a->baseline = strtod(v, NULL);
	else if (!strcmp(k, ABUSE_F_SINCE))
		a->since = strtoll(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_REASON) && strcmp(v, "-"))
		snprintf(a->reason, sizeof a->reason, "%s", v);
	else if (!strcmp(k, ABUSE_F_ALERTED))
		a->alerted = strtoll(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_SUSPENDED))
		a->suspended = strtoll(v, NULL, 10);
	else if (!strcmp(k, ABUSE_F_ACKED) && strcmp(v, "-"))
		snprintf(a->acked_by, sizeof a->acked_by, "%s", v);
	else if (!strcmp(k, ABUSE_F_SYMBOLS) && strcmp(v, "-"))
		snprintf(a->symbols, sizeof a->symbols, "%s", v);
}

void queue_abuse_load(struct abuse_acct *a, size_t *n, size_t max,
		      long long now)
{
	char path[PATH_MAX], line[4096];
	FILE *f;

	*n = 0;
	settings_path(path, sizeof path, ABUSE_ACCOUNTS);
	if (!(f = fopen(path, "re")))
		return;
	if (!fgets(line, sizeof line, f) || strncmp(line, ABUSE_MAGIC,
						    strlen(ABUSE_MAGIC))) {
		log_warn("abuse: %s: not an accounts file, ignored", path);
		fclose(f);
		return;
	}
	while (*n < max && fgets(line, sizeof line, f)) {
		struct abuse_acct *r = &a[*n];
		char *save = NULL;
		memset(r, 0, sizeof *r);
		r->hour = now / 3600;
		r->last_seen = r->since = now;
		for (char *w = strtok_r(line, " \n", &save); w;
		     w = strtok_r(NULL, " \n", &save)) {
			char *eq = strchr(w, '=');
			if (eq) {
				*eq = '\0';
				load_word(r, w, eq + 1);
			}
		}
		if (r->key[0])
			(*n)++;
	}
	fclose(f);
	if (*n)
		log_info("abuse: %zu accounts read from %s", *n, path);
}
