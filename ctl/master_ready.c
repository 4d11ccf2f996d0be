/* master_ready.c: when is the relay up?  Every daemon that is installed
 * runs and said it serves (its readiness pipe, lib/notify.h; relay-listen
 * once it bound and listens on every address: a LISTEN socket on the
 * port may be another program's), each daemon socket (run/policy.sock
 * ...) exists, and every address in cf.listen and cf.listen_tls is in
 * LISTEN state in /proc/net/tcp{,6}.  Reading /proc instead of
 * connecting keeps the check from opening SMTP sessions.  relay-master
 * then writes run/ready and removes it while this no longer holds
 * (ARCHITECTURE.md). */
#include "master.h"
#include "settings.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct ready_addr {
	int family;             /* AF_INET, AF_INET6, or 0 = any address */
	unsigned char a[16];
	unsigned port;
};

/* "127.0.0.1:25", "[::1]:25", "*:25", ":25" -> ra; -1 when malformed. */
static int ready_parse(const char *s, struct ready_addr *ra)
{
	char host[64];
	const char *colon;
	char *end;
	size_t hl;
	long port;

	memset(ra, 0, sizeof *ra);
	colon = strrchr(s, ':');
	if (!colon)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	ra->port = (unsigned)port;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, ra->a) == 1)
		ra->family = AF_INET;
	else if (inet_pton(AF_INET6, host, ra->a) == 1)
		ra->family = AF_INET6;
	else if (strpbrk(host, "[]:"))
		return -1; /* "[::1:25", "::1:25": unbracketed or unclosed */
	/* "", "*" or a name: match the port on any address */
	return 0;
}

/* One /proc/net/tcp{,6} line in LISTEN state matching ra? */
static int ready_line_matches(const char *line, int family,
			      const struct ready_addr *ra)
{
	char hex[40];
	unsigned port, state;
	uint32_t w[4];
	unsigned char any[16] = { 0 };

	if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %*s %x", hex, &port,
		   &state) != 3 || state != 0x0A || port != ra->port)
		return 0;
	if (ra->family == 0)
		return 1;
	if (family != ra->family)
		return 0;
	/* the kernel prints each 32-bit word of the address as %08X of its
	 * in-memory value: scanning it back gives the same bytes */
	if (family == AF_INET) {
		if (sscanf(hex, "%8x", &w[0]) != 1)
			return 0;
		return memcmp(w, ra->a, 4) == 0 || memcmp(w, any, 4) == 0;
	}
	if (sscanf(hex, "%8x%8x%8x%8x", &w[0], &w[1], &w[2], &w[3]) != 4)
		return 0;
	return memcmp(w, ra->a, 16) == 0 || memcmp(w, any, 16) == 0;
}

static int ready_in_proc(const char *file, int family,
			 const struct ready_addr *ra)
{
	char line[512];
	int found = 0;
	FILE *f = fopen(file, "r");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof line, f))
		found = ready_line_matches(line, family, ra);
	fclose(f);
	return found;
}

int master_ready_listening(const char *addr)
{
	struct ready_addr ra;

	if (ready_parse(addr, &ra) < 0)
		return 0;
	return ready_in_proc("/proc/net/tcp", AF_INET, &ra) ||
	       ready_in_proc("/proc/net/tcp6", AF_INET6, &ra);
}

/* Every address in a space- or comma-separated list listens. */
static int ready_list(const char *list)
{
	char copy[2048];
	char *tok, *save = NULL;

	snprintf(copy, sizeof copy, "%s", list ? list : "");
	for (tok = strtok_r(copy, " ,\t", &save); tok;
	     tok = strtok_r(NULL, " ,\t", &save))
		if (!master_ready_listening(tok))
			return 0;
	return 1;
}

int master_ready_daemons(int *listener)
{
	struct master_child *c;
	struct stat st;
	char path[PATH_MAX];
	int i;

	*listener = 0;
	for (i = 0; (c = master_child_at(i)); i++) {
		if (!c->present || c->off_path)
			continue;
		if (strcmp(c->name, "relay-listen") == 0)
			*listener = 1;
		if (!c->pid || (c->notifies && !c->serving))
			return 0;
		if (!c->sock)
			continue;
		snprintf(path, sizeof path, "%s/%s", cf.run_dir, c->sock);
		if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			return 0;
	}
	return 1;
}

int master_ready_check(void)
{
	int listener;

	if (!master_ready_daemons(&listener))
		return 0;
	/* without relay-listen nothing listens: readiness means the rest */
	return !listener || (ready_list(cf.listen) && ready_list(cf.listen_tls));
}
