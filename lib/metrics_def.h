/* metrics_def.h: every metric family a daemon may publish, defined once.
 *
 * A publisher names a family by its id (METRIC_<ID>) and relay-metrics
 * takes the family's name, type and help text from this table, so a
 * name cannot be misspelt in one place and the exposition is grouped by
 * family whatever the order of the slots.  To publish a new metric: add
 * a line here (names follow Prometheus' conventions: a unit suffix in
 * base units, counters end in _total) and call metrics_add() (metrics.h).
 *
 * X(id, name, type, max_series, owner, help): max_series bounds how many
 * label sets of the family one publisher's area may hold (0 = no bound
 * of its own); a bounded family's caller folds the rest into "other".
 * owner is the one publisher whose area (METRICS_<owner> of metrics.h)
 * may hold the family: relay-metrics ignores it in any other area, so a
 * taken-over daemon cannot change another's numbers. */
#ifndef METRICS_DEF_H
#define METRICS_DEF_H

#define METRICS_FAMILIES(X)                                                  \
	X(SMTPD_CONNECTIONS, "relay_smtpd_connections_total", COUNTER, 0,    \
	  SMTPD, "SMTP connections by listener and outcome")                 \
	X(SMTPD_SESSIONS, "relay_smtpd_sessions_total", COUNTER, 0, SMTPD,   \
	  "SMTP sessions ended, by listener and how they ended")             \
	X(SMTPD_AUTH, "relay_smtpd_auth_total", COUNTER, 0, SMTPD,           \
	  "SMTP AUTH attempts by result")                                    \
	X(SMTPD_TLS, "relay_smtpd_tls_total", COUNTER, 0, SMTPD,             \
	  "inbound TLS handshakes by protocol version")                      \
	X(POLICY_DECISIONS, "relay_policy_decisions_total", COUNTER, 0,      \
	  POLICY, "policy decisions by phase and reply code")                \
	X(QUEUE_MESSAGES, "relay_accepted_messages_total", COUNTER, 0,       \
	  QUEUE, "messages accepted into the queue")                         \
	X(QUEUE_RCPTS, "relay_accepted_recipients_total", COUNTER, 0,        \
	  QUEUE, "recipients of messages accepted into the queue")           \
	X(QUEUE_BYTES, "relay_accepted_bytes_total", COUNTER, 0, QUEUE,      \
	  "bytes of messages accepted into the queue")                       \
	X(DELIVERIES, "relay_deliveries_total", COUNTER, 0, SEND,            \
	  "delivery attempts per recipient by result")                       \
	X(DEST_DELIVERIES, "relay_destination_deliveries_total", COUNTER,    \
	  600, SEND, "delivery attempts per recipient by destination and "   \
	  "result")                                                          \
	X(DEST_DEFERRING, "relay_destination_deferring_since_seconds",       \
	  GAUGE, 200, SEND, "when a destination started deferring without "  \
	  "a success since (Unix time), 0 when its last attempt succeeded")  \
	X(REMOTE_TLS, "relay_remote_tls_total", COUNTER, 0, REMOTE,          \
	  "outbound TLS sessions by protocol version")                       \
	X(QUEUE_STATE, "relay_queue_messages", GAUGE, 0, SEND,               \
	  "messages in the queue by state")                                  \
	X(QUEUE_OLDEST, "relay_queue_oldest_message_timestamp_seconds",      \
	  GAUGE, 0, SEND, "when the oldest message in the queue was queued " \
	  "(Unix time), 0 when the queue is empty")                          \
	X(DELIVERY_DELAY, "relay_delivery_delay_seconds", HISTOGRAM, 0,      \
	  SEND, "time from queueing to the final result per recipient")      \
	X(SCAN_VERDICTS, "relay_scan_verdicts_total", COUNTER, 0, QUEUE,     \
	  "content scans by verdict (clean, spam, failed; busy, late: "      \
	  "refused, no verdict in the client's wait)")                       \
	X(ABUSE_EVENTS, "relay_abuse_events_total", COUNTER, 0, QUEUE,       \
	  "abuse monitoring's alerts, suspensions and releases of accounts")

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

#define METRICS_ENUM(id, name, type, max, owner, help) METRIC_##id,
enum metrics_family { METRICS_FAMILIES(METRICS_ENUM) METRICS_NFAMILIES };
#undef METRICS_ENUM

struct metrics_family_def {
	const char *name;
	enum metrics_type type;
	unsigned max_series;
	const char *owner;              /* the area's name, e.g. "send" */
	const char *help;
};

/* indexed by enum metrics_family (lib/metrics.c) */
extern const struct metrics_family_def metrics_families[METRICS_NFAMILIES];

/* The buckets of every histogram (seconds, the upper bounds; +Inf is
 * implied).  A histogram's _sum is kept in milliseconds. */
#define METRICS_BUCKETS 10
extern const double metrics_buckets[METRICS_BUCKETS];

#endif
