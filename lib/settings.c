/* settings.c: the table of relay.conf settings with their defaults. */
#include "settings.h"
#include "abuse.h"
#include "addr.h"
#include "cfg.h"
#include "exitcodes.h"
#include "hostport.h"
#include "log.h"
#include "notify.h"
#include "rate_stats.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct settings cf;

#define S(name, def) { #name, CFG_STR, def, &cf.name, 0, 0 }
#define I(name, def, lo, hi) { #name, CFG_INT, #def, &cf.name, lo, hi }
#define B(name, def) { #name, CFG_BOOL, def, &cf.name, 0, 0 }

static const struct cfg_item settings_table[] = {
	S(hostname, ""), S(postmaster, ""),
	S(listen, "127.0.0.1:25"),
	S(listen_tls, ""),
	S(queue_dir, ""), S(run_dir, ""), S(log_file, ""), S(rules_cdb, ""),
	S(users_cdb, ""), S(counters_file, ""), S(secrets_dir, ""),
	S(rules_history, ""), I(rules_history_keep, 50, 1, 100000),
	S(archive_dir, ""),
	S(tls_cert, ""), S(tls_key, ""), S(tls_ca, ""),
	B(log_syslog, "no"),
	I(line_max, 1000, 512, 65536), I(hops_max, 100, 1, 100000),
	I(message_size_max, 36700160, 1024, 2147483647),
	I(rcpt_max, 100, 1, 100000),
	I(commands_max, 10000, 10, 10000000),
	I(errors_max, 20, 1, 1000),
	I(smtp_timeout, 300, 1, 86400),
	I(data_timeout, 600, 1, 86400),
	I(session_timeout, 3600, 1, 604800),
	I(conn_max, 10000, 1, 100000),
	I(conn_per_ip, 1000, 1, 100000),
	I(conn_per_ip_prefix6, 64, 32, 128),
	I(smtpd_workers_min, 2, 0, 1000),
	I(smtpd_max_use, 10000, 1, 1000000),
	I(smtpd_max_idle, 100, 1, 86400),
	I(smtpd_sessions_per_worker, 1000, 1, 100000),
	S(resolver, ""),
	S(relayhost, ""),
	I(smtp_port, 25, 1, 65535),
	I(remote_workers, 8, 1, 1000),
	I(dest_concurrency, 20, 1, 1000),
	I(connect_timeout, 30, 1, 3600),
	I(remote_timeout, 300, 1, 3600),
	I(remote_data_done_timeout, 600, 1, 3600),
	I(retry_min, 300, 1, 86400),
	I(retry_max, 14400, 1, 604800),
	I(queue_lifetime, 432000, 1, 31536000),
	I(delay_warning, 14400, 0, 31536000),
	I(inject_timeout, 60, 1, 3600),
	I(conn_cache_max, 100, 0, 10000),
	I(conn_cache_idle, 10, 0, 3600),
	I(user_daily_messages, 10000, 0, 1000000000),
	I(user_daily_rcpts, 10000, 0, 1000000000),
	I(customer_daily_per_license, 130, 0, 1000000000),
	I(customer_daily_cap, 4600000, 0, 1000000000),
	I(customer_peak_per_license, 9, 0, 1000000000),
	I(customer_peak_cap, 319444, 0, 1000000000),
	I(unpaid_daily, 100, 0, 1000000000),
	I(unpaid_peak, 50, 0, 1000000000),
	I(auth_fail_max, 5, 1, 100000), I(auth_fail_ip_max, 20, 1, 100000),
	I(auth_fail_user_max, 50, 1, 1000000),
	I(auth_cache_size, 1024, 1, 1000000), I(auth_cache_ttl, 300, 0, 86400),
	I(rate_users_max, 2048, 16, 1000000),
	I(rate_customers_max, 1024, 16, 1000000),
	I(rate_user_rcpt_slots, 12800, 64, 10000000),
	S(rate_store, "local"), S(rate_store_fail, "defer"),
	S(rate_store_auth, ""), S(rate_store_ca, ""),
	S(rate_store_prefix, "relaybox:"),
	I(rate_store_timeout, 250, 10, 60000),
	S(user_smtpd, "relaysmtpd"), S(user_policy, "relaypolicy"),
	S(user_queue, "relayqueue"), S(user_send, "relaysend"),
	S(user_remote, "relayremote"), S(group_queue, "relayq"),
	S(user_metrics, "relaymetrics"),
	S(metrics_listen, ""), S(metrics_passwd, ""), B(metrics_tls, "no"),
	I(metrics_top, 10, 1, 1000),
	I(metrics_alert_defer, 3600, 1, 31536000),
	I(metrics_alert_queue, 14400, 1, 31536000),
	S(metrics_alert_mail, ""), S(metrics_alert_from, ""),
	I(metrics_alert_mail_every, 3600, 10, 31536000),
	B(rate_accounting, "yes"), B(pipelining_strict, "yes"),
	B(fair_delivery, "yes"), B(remote_chunking, "yes"),
	S(legacy_clients, ""), S(legacy_tls_min, "TLSv1"),
	S(legacy_tls_ciphers, "DEFAULT:@SECLEVEL=0"),
	B(legacy_bare_lf, "no"), B(legacy_plain, "no"),
	S(dkim_fail, "defer"),
	/* MX delivery security (send/remote_sec.c) */
	S(dnssec, "off"), B(mta_sts, "yes"),
	I(mta_sts_timeout, 10, 1, 60), I(mta_sts_port, 443, 1, 65535),
	S(remote_private_addresses, "refuse"),
	S(scan_rspamd, ""), S(scan_default, "off"), S(scan_fail, "defer"),
	I(scan_reject_score, 15, 1, 100000), I(scan_timeout, 15, 1, 3600),
	B(tls_rpt, "no"), I(tls_rpt_period, 86400, 1, 604800),
	I(abuse_spam_max, 10, 0, 1000000), I(abuse_grace, 86400, 0, 31536000),
	I(abuse_alert_every, 21600, 0, 31536000),
	I(abuse_accounts_max, 4096, 16, 1000000),
	I(abuse_reject_max, 10, 0, 1000000), I(abuse_bounce_pct, 30, 1, 100),
	I(abuse_bounce_min, 20, 0, 1000000),
	I(abuse_reject_domains, 3, 1, ABUSE_REJECT_DOMAINS),
	I(abuse_volume_min, 500, 0, 100000000),
	I(abuse_volume_factor, 10, 2, 100000),
	I(daemon_hang_timeout, 60, 0, 86400),
};

const char *settings_default_dir(void)
{
	const char *d = getenv("RELAYBOX_DIR");
	return d && *d ? d : "/etc/relaybox";
}

char *settings_path(char *buf, unsigned long n, const char *rel)
{
	snprintf(buf, n, "%s/%s", cf.dir, rel);
	return buf;
}

/* An empty path setting becomes DIR/rel. */
static void default_path(char **var, const char *rel)
{
	char buf[PATH_MAX];
	if (**var)
		return;
	free(*var);
	*var = strdup(settings_path(buf, sizeof buf, rel));
	if (!*var)
		log_fatal(EXIT_TEMP, "out of memory");
}

/* A word setting that is none of a, b (and c when not NULL): -1 with
 * "PATH: name must be a, b or c, not "v"" in err. */
static int settings_word(const char *path, const char *name, const char *v,
			 const char *a, const char *b, const char *c,
			 char *err, size_t n)
{
	if (!strcmp(v, a) || !strcmp(v, b) || (c && !strcmp(v, c)))
		return 0;
	if (c)
		snprintf(err, n, "%s: %s must be %s, %s or %s, not \"%s\"", path,
			 name, a, b, c, v);
	else
		snprintf(err, n, "%s: %s must be %s or %s, not \"%s\"", path,
			 name, a, b, v);
	return -1;
}

/* The values relay.conf's table cannot judge alone; the first error. */
static int settings_check_words(const char *path, char *err, size_t n)
{
	if (settings_word(path, "dkim_fail", cf.dkim_fail, "defer",
			  "unsigned", NULL, err, n) < 0 ||
	    settings_word(path, "rate_store_fail", cf.rate_store_fail,
			  "defer", "local", NULL, err, n) < 0 ||
	    settings_word(path, "dnssec", cf.dnssec, "off", "trust_ad", NULL,
			  err, n) < 0 ||
	    settings_word(path, "remote_private_addresses",
			  cf.remote_private_addresses, "refuse", "allow", NULL,
			  err, n) < 0 ||
	    settings_word(path, "scan_fail", cf.scan_fail, "defer", "pass",
			  NULL, err, n) < 0 ||
	    settings_word(path, "scan_default", cf.scan_default, "off",
			  "score", "reject", err, n) < 0)
		return -1;
	return 0;
}

/* A relayhost with a typo must stop the relay, not send its mail to
 * the recipients' MX hosts (or to its host on another port). */
static int settings_check_relayhost(const char *path, char *err, size_t n)
{
	char host[256];
	long port;

	if (!*cf.relayhost ||
	    hostport_parse(cf.relayhost, host, sizeof host, &port) == 0)
		return 0;
	snprintf(err, n, "%s: relayhost \"%s\" is not [host]:port, [host], "
		 "host:port or host (a DNS name or an IP address, a port from "
		 "1 to 65535)", path, cf.relayhost);
	return -1;
}

/* Where double bounces go: the mailbox given, else postmaster@hostname
 * (send/send_bounce.c; relay-send warns at start when that one has no
 * route: it would loop back to the relay). */
static int settings_check_postmaster(const char *path, char *err, size_t n)
{
	if (!*cf.postmaster || addr_mailbox_check(cf.postmaster, 0) == ADDR_OK)
		return 0;
	snprintf(err, n, "%s: postmaster \"%s\" is not a mailbox "
		 "(local@domain)", path, cf.postmaster);
	return -1;
}

/* relay-master kills a daemon silent this long (lib/notify.h): 0 turns
 * that off; below NOTIFY_HANG_MIN an idle daemon, heard from only every
 * few seconds, would be killed. */
static int settings_check_hang(const char *path, char *err, size_t n)
{
	if (cf.daemon_hang_timeout == 0 ||
	    cf.daemon_hang_timeout >= NOTIFY_HANG_MIN)
		return 0;
	snprintf(err, n, "%s: daemon_hang_timeout must be 0 (off) or at "
		 "least %d, not %ld", path, NOTIFY_HANG_MIN,
		 cf.daemon_hang_timeout);
	return -1;
}

/* Every path setting left empty, under DIR. */
static void settings_default_paths(void)
{
	default_path(&cf.queue_dir, "queue");
	default_path(&cf.run_dir, "run");
	default_path(&cf.log_file, "log/relay.log");
	default_path(&cf.rules_cdb, "rules.cdb");
	default_path(&cf.users_cdb, "users.cdb");
	default_path(&cf.rules_history, "rules-history");
	default_path(&cf.counters_file, RATE_FILE);
	default_path(&cf.secrets_dir, "secrets");
	default_path(&cf.archive_dir, "archive");
	if (!*cf.rate_store_auth) {
		default_path(&cf.rate_store_auth, RATE_STORE_AUTH);
		if (asprintf(&cf.rate_store_auth_old, "%s/%s", cf.secrets_dir,
			     RATE_STORE_AUTH_OLD) < 0)
			log_fatal(EXIT_TEMP, "out of memory");
	}
}

/* hostname's default, then postmaster's (postmaster@hostname). */
static void settings_default_names(void)
{
	char host[256];

	if (!*cf.hostname) {
		if (gethostname(host, sizeof host) < 0)
			strcpy(host, "localhost");
		host[sizeof host - 1] = '\0';
		free(cf.hostname);
		cf.hostname = strdup(host);
	}
	if (*cf.postmaster)
		return;
	free(cf.postmaster);
	if (asprintf(&cf.postmaster, "postmaster@%s", cf.hostname) < 0)
		log_fatal(EXIT_TEMP, "out of memory");
}

int settings_read(const char *dir, char *err, unsigned long errsz)
{
	char path[PATH_MAX];
	int rc;

	cf.dir = realpath(dir, NULL);
	if (!cf.dir)
		log_fatalx(EXIT_TEMP, "instance directory %s", dir);
	settings_path(path, sizeof path, "relay.conf");
	err[0] = '\0';
	rc = cfg_load(path, settings_table,
		      sizeof settings_table / sizeof settings_table[0], 1, err,
		      errsz);
	settings_default_paths();
	if (rc == 0)
		rc = settings_check_words(path, err, errsz);
	if (rc == 0)
		rc = settings_check_relayhost(path, err, errsz);
	if (rc == 0)
		rc = settings_check_postmaster(path, err, errsz);
	if (rc == 0)
		rc = settings_check_hang(path, err, errsz);
	settings_default_names();
	return rc;
}

void settings_load(const char *dir)
{
	char err[1024];

	if (settings_read(dir, err, sizeof err) < 0)
		log_fatal(EXIT_PERM, "%s", err);
}
