/* send_route.c: where a recipient's mail goes (ARCHITECTURE.md, rules.cdb
 * and routes).  The relayhost setting overrides everything; then the
 * recipient's domain (exact, then ".parent" keys), the sender's domain
 * (same), route:default, and finally the recipient domain's MX.  Route
 * keys hold A-labels (makecdb converts them), so an internationalised
 * domain is looked up by its A-label. */
#include "send.h"
#include "addr.h"
#include "exitcodes.h"
#include "hostport.h"
#include "idna.h"
#include "log.h"
#include "rulekeys.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A route's value: its RK_ROUTE_* lines (lib/rulekeys.h). */
static void route_parse(char *val, struct send_route *r)
{
	for (char *line = strtok(val, "\n"); line; line = strtok(NULL, "\n")) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (strcmp(line, RK_ROUTE_HOST) == 0)
			snprintf(r->host, sizeof r->host, "%s", eq + 1);
		else if (strcmp(line, RK_ROUTE_PORT) == 0)
			r->port = strtol(eq + 1, NULL, 10);
		else if (strcmp(line, RK_ROUTE_TLS) == 0 && eq[1])
			snprintf(r->tls, sizeof r->tls, "%s", eq + 1);
		else if (strcmp(line, RK_ROUTE_AUTH) == 0)
			snprintf(r->auth, sizeof r->auth, "%s", eq + 1);
		else if (strcmp(line, RK_ROUTE_AUTH_TLS) == 0)
			snprintf(r->auth_tls, sizeof r->auth_tls, "%s", eq + 1);
		else if (strcmp(line, RK_ROUTE_TLS_WRAP) == 0)
			r->tls_wrap = strcmp(eq + 1, "yes") == 0;
	}
}

static int route_try(struct rcdb *db, const char *key, struct send_route *r)
{
	char val[2048];
	if (!db || rcdb_gets(db, key, val, sizeof val) < 0)
		return 0;
	route_parse(val, r);
	snprintf(r->via, sizeof r->via, "%s", key);
	return 1;
}

/* kind:<domain>, then kind:.<parent> for each parent domain. */
static int route_domain(struct rcdb *db, const char *kind, const char *dom,
			struct send_route *r)
{
	char key[320];

	if (!*dom)
		return 0;
	snprintf(key, sizeof key, "route:%s:%s", kind, dom);
	if (route_try(db, key, r))
		return 1;
	for (const char *p = strchr(dom, '.'); p; p = strchr(p + 1, '.')) {
		snprintf(key, sizeof key, "route:%s:%s", kind, p);
		if (route_try(db, key, r))
			return 1;
	}
	return 0;
}

/* A domain as route keys hold it: lowercase, its A-label.  One that
 * has none is kept as it is (it matches no route; relay-remote bounces
 * it when it looks up its MX). */
static void route_key_domain(const char *d, char *out, size_t n)
{
	if (idna_alabel(d, out, n, NULL) != IDNA_OK)
		snprintf(out, n, "%s", d);
	addr_lower(out);
}

void send_route_lookup(struct rcdb *db, const char *relayhost,
		       const char *rcpt, const char *sender,
		       struct send_route *r)
{
	char rd[ADDR_DOMAIN_MAX + 1], sd[ADDR_DOMAIN_MAX + 1];

	memset(r, 0, sizeof *r);
	strcpy(r->tls, "may");
	if (relayhost && *relayhost) {
		/* settings_load refused a relayhost that does not parse:
		 * never route its mail elsewhere */
		if (hostport_parse(relayhost, r->host, sizeof r->host,
				   &r->port) < 0)
			log_fatal(EXIT_PERM, "relayhost \"%s\" does not parse",
				  relayhost);
		strcpy(r->via, "relayhost");
	} else {
		route_key_domain(addr_domain(rcpt), rd, sizeof rd);
		route_key_domain(addr_domain(sender), sd, sizeof sd);
		if (!route_domain(db, "rcpt", rd, r) &&
		    !route_domain(db, "sender", sd, r) &&
		    !route_try(db, "route:default", r))
			strcpy(r->via, "mx");
	}
	if (r->port <= 0 || r->port > 65535)
		r->port = 0; /* relay-remote uses smtp_port */
}

void send_route_dest(const struct send_route *r, const char *domain,
		     char *buf, size_t n)
{
	/* implicit TLS is another destination, even on the same port */
	const char *wrap = r->tls_wrap ? "/wrap" : "";
	char name[SEND_DEST_MAX];

	/* a host or domain in any case is one destination (its limit, its
	 * jobs); the credential is a file's name: its case is its own.  A
	 * name too long for name is cut with the key, as it always was. */
	addr_domain_key(r->host[0] ? r->host : domain, name, sizeof name);
	snprintf(buf, n, "%s%s:%ld/%s/%s/%s%s", r->host[0] ? "" : "mx:", name,
		 r->port, r->tls, r->auth, r->auth_tls, wrap);
}
