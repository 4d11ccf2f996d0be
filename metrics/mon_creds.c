/* mon_creds.c: the users who may read relay-metrics' pages, from the
 * file metrics_passwd names ("user:hash" a line, '#' comments; the hash
 * from relayctl passwd).  Read as root before the privilege drop, so the
 * file can be root's alone (0600), like the TLS key. */
#include "mon_http.h"
#include "pwhash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int mon_creds_load(const char *path, struct mon_creds *cr, char *err,
		   size_t errsz)
{
	char line[512], *colon;
	FILE *f;
	int n = 0;

	memset(cr, 0, sizeof *cr);
	if (!(f = fopen(path, "re"))) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		n++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (!colon || colon == line || colon - line >= 64 ||
		    !pwhash_valid(colon + 1) || cr->n == MON_CREDS_MAX) {
			snprintf(err, errsz, "%s line %d: not \"user:hash\" "
				 "(a hash of relayctl passwd), or more than %d "
				 "users", path, n, MON_CREDS_MAX);
			fclose(f);
			return -1;
		}
		*colon = '\0';
		memcpy(cr->user[cr->n], line, (size_t)(colon - line) + 1);
		snprintf(cr->hash[cr->n], sizeof cr->hash[0], "%.255s", colon + 1);
		cr->n++;
	}
	fclose(f);
	if (!cr->n) {
		snprintf(err, errsz, "%s: no users", path);
		return -1;
	}
	return 0;
}
