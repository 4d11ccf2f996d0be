/* settings.h: relay.conf, the daemon settings shared by every relaybox
 * program.  Every path defaults to a place under the instance directory
 * (-d DIR), so a whole instance can live in a temporary folder. */
#ifndef SETTINGS_H
#define SETTINGS_H

/* The Redis AUTH file's default, in DIR (root's folder: no daemon can
 * replace it); installs made before kept it in secrets_dir, which
 * relay-remote owns, as RATE_STORE_AUTH_OLD: read while the new one is
 * absent, with a warning from relay-master (lib/rstore.h). */
#define RATE_STORE_AUTH "rate_store.auth"
#define RATE_STORE_AUTH_OLD "rate_store"

struct settings {
	char *dir;              /* the instance directory (-d), absolute */
	/* identity and listeners */
	char *hostname;
	char *postmaster;       /* double bounces, refused archive copies
				   (default postmaster@hostname) */
	char *listen;           /* "127.0.0.1:25 [::1]:25 0.0.0.0:587" plain/STARTTLS */
	char *listen_tls;       /* implicit TLS (465) listeners */
	/* paths ("" = default under dir) */
	char *queue_dir, *run_dir, *log_file, *rules_cdb, *users_cdb,
	    *counters_file, *secrets_dir;
	char *rules_history;    /* conf/rulehist.h */
	long rules_history_keep;
	char *archive_dir;      /* the customers' archive maildirs (archive.h) */
	char *tls_cert, *tls_key, *tls_ca;
	int log_syslog;
	/* smtpd limits */
	long line_max, message_size_max, rcpt_max, commands_max, errors_max;
	long hops_max; /* Received: fields a message may bring (smtpd) */
	long smtp_timeout, data_timeout, session_timeout;
	long conn_max, conn_per_ip;
	long conn_per_ip_prefix6; /* IPv6 clients count per this prefix */
	/* relay-listen's pool of relay-smtpd workers (0: one per connection) */
	long smtpd_workers_min, smtpd_max_use, smtpd_max_idle;
	/* sessions a worker serves at once (coroutines; 1: one at a time) */
	long smtpd_sessions_per_worker;
	/* legacy devices (legacy.h): their addresses, and what they get */
	char *legacy_clients;   /* "192.0.2.0/24 10.1.2.3", "" = none */
	char *legacy_tls_min;   /* TLSv1 | TLSv1.1 | TLSv1.2 | TLSv1.3 */
	char *legacy_tls_ciphers; /* OpenSSL cipher list for TLS <= 1.2 */
	int legacy_bare_lf;     /* a lone LF ends a line (made CRLF) */
	int legacy_plain;       /* rules' tls=yes waived for them */
	/* delivery */
	char *resolver;         /* "127.0.0.1:5353", "" = /etc/resolv.conf */
	char *relayhost;        /* "[host]:port" for all mail, "" = routes/MX */
	long smtp_port;         /* port for MX deliveries (25) */
	long remote_workers, dest_concurrency;
	long connect_timeout, remote_timeout;
	/* the reply to the message's final dot or BDAT LAST: the server
	 * may be scanning or committing it (RFC 5321 4.5.3.2.6: 10 min) */
	long remote_data_done_timeout;
	long retry_min, retry_max, queue_lifetime, delay_warning;
	/* relay-send's wait for relay-queue to take a notification it
	 * injects (bounce, delay warning, TLS-RPT report), in seconds */
	long inject_timeout;
	long conn_cache_max, conn_cache_idle;
	int fair_delivery;      /* relay-send: customers take turns */
	int remote_chunking;    /* relay-remote: BDAT where CHUNKING is offered */
	/* policy / limits defaults (overridable per customer or user in rules) */
	long user_daily_messages, user_daily_rcpts;
	long customer_daily_per_license, customer_daily_cap;
	long customer_peak_per_license, customer_peak_cap;
	long unpaid_daily, unpaid_peak;
	long auth_fail_max, auth_fail_ip_max, auth_fail_user_max; /* policy_auth.h */
	long auth_cache_size, auth_cache_ttl; /* policy_authcache.h */
	/* rate counters file geometry, used when the file is created */
	long rate_users_max, rate_customers_max, rate_user_rcpt_slots;
	/* where the rate counters live: "local" (counters_file) or a Redis
	 * URL shared by a fleet (policy/rate_store.h); what a decision does
	 * when Redis does not answer within rate_store_timeout ms: "defer"
	 * (451 4.3.0) or "local" (count in counters_file, reconcile later);
	 * the AUTH file (user/password) and CA for rediss:// */
	char *rate_store, *rate_store_fail, *rate_store_auth, *rate_store_ca;
	char *rate_store_prefix;
	/* secrets_dir/RATE_STORE_AUTH_OLD when rate_store_auth is the
	 * default, else NULL (rstore_auth_path) */
	char *rate_store_auth_old;
	long rate_store_timeout;
	/* uids (used when started as root) */
	char *user_smtpd, *user_policy, *user_queue, *user_send, *user_remote,
	    *group_queue;
	char *user_metrics;     /* relay-metrics; its group reads metrics/ */
	/* relay-metrics (man/relay-metrics.8): "" = not started */
	char *metrics_listen, *metrics_passwd;
	int metrics_tls;        /* HTTPS on loopback too */
	long metrics_top, metrics_alert_defer, metrics_alert_queue;
	/* alerts as mail through the relay: "" = none */
	char *metrics_alert_mail, *metrics_alert_from;
	long metrics_alert_mail_every;
	/* no = relay-policy neither checks nor counts rate limits (the
	 * benchmark's "service features off"; the rules still decide) */
	int rate_accounting;
	/* DKIM: a signing failure defers the message (451 4.3.0), or
	 * "unsigned" relays it unsigned with a log line */
	char *dkim_fail;
	int pipelining_strict; /* smtpd: smtp_sync_* refuse, else allow */
	/* MX delivery: "trust_ad" believes the resolver's AD bit (DANE);
	 * MTA-STS policies fetched within mta_sts_timeout seconds from
	 * mta_sts_port (443; another port only for tests) */
	char *dnssec;
	/* MX delivery to an address a recipient domain's DNS gave that is
	 * loopback, private or link-local (lib/ipaddr.h): "refuse" or
	 * "allow".  Never applies to a next hop the operator named. */
	char *remote_private_addresses;
	int mta_sts;
	long mta_sts_timeout, mta_sts_port;
	/* content scan (queue/queue_scan.c): rspamd's address ("" = no
	 * scanning), what customers without scan= in the rules get, the
	 * score at or above which scan=reject refuses, the time a scan may
	 * take, and what a failed scan does: defer (451) or pass */
	char *scan_rspamd, *scan_default, *scan_fail;
	long scan_reject_score, scan_timeout;
	/* TLS-RPT (RFC 8460): daily reports of those sessions (the period
	 * is shorter only in tests) */
	int tls_rpt;
	long tls_rpt_period;
	/* abuse monitoring (queue/queue_abuse.c): spam verdicts per account
	 * in 24 h that raise an alert (0: none), seconds from the alert to
	 * the suspension when still over (abuse_grace), seconds between two
	 * alert mails of one account, accounts followed at most */
	long abuse_spam_max, abuse_grace, abuse_alert_every, abuse_accounts_max;
	/* the remote side (relay-send's results): refusals naming spam or
	 * policy (5.7.N, one per message and refusing domain) in 24 h
	 * from at least abuse_reject_domains domains, and a bounce ratio
	 * (bounces one per message and domain, from abuse_reject_domains
	 * domains too, against those and the recipients delivered; from
	 * abuse_bounce_min bounces on) */
	long abuse_reject_max, abuse_bounce_pct, abuse_bounce_min;
	long abuse_reject_domains;
	/* volume: recipients tried in the current hour against the
	 * account's own hourly average (learned over its first day) */
	long abuse_volume_min, abuse_volume_factor;
	/* relay-master SIGKILLs and restarts a mail-path daemon whose main
	 * loop has not beaten for this many seconds (lib/notify.h); 0: off */
	long daemon_hang_timeout;
};

extern struct settings cf;

/* Load DIR/relay.conf (a missing file gives the defaults) and resolve the
 * paths under DIR.  Exits with a message on error. */
void settings_load(const char *dir);

/* The same without exiting on an error in relay.conf: -1 with the first
 * one in err, and cf still filled (the defaults, and what the file's
 * good lines say), so that relayctl stop and status find the running
 * relay's run_dir.  0 when all is well, as settings_load. */
int settings_read(const char *dir, char *err, unsigned long errsz);

/* Name of a file under the instance: settings_path(buf, n, "run/policy.sock"). */
char *settings_path(char *buf, unsigned long n, const char *rel);

/* Parse "-d DIR" style options common to every program: returns the
 * instance dir given by -d or RELAYBOX_DIR or "/etc/relaybox". */
const char *settings_default_dir(void);

#endif
