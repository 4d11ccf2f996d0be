/* abuse.h: abuse monitoring's contract (ARCHITECTURE.md "Abuse
 * monitoring"), shared by relay-queue (the one writer of the state),
 * relay-policy (enforces the suspensions) and relayctl (shows the
 * evidence, asks relay-queue to acknowledge or lift).
 *
 * An account is what the relay knows a sender as: "user:<AUTH identity>"
 * after SMTP AUTH, and only then; without AUTH the device (an IP-trusted
 * one), and besides it "sender:<envelope sender>" when relay-policy
 * found that sender registered in users.cdb (the admitted info field
 * ADMIT_WIRE_REGISTERED, lib/admit.h).  The envelope sender of a session
 * without AUTH is whatever the client says: evidence from it counts
 * against the device that sent it (the real source) and the address it
 * named, never against that user's AUTH ("user" line), so a device
 * forging a registered user's address cannot get the user's own
 * submissions refused; a "sender" line refuses that address from a
 * session without AUTH only.  The "sender" account alerts only when its
 * evidence does not all come from one device that alerts on it itself
 * (one event, one alert: relay-queue's queue_abuse_sender.c).  The
 * device, abuse_device(): "device:<ip>/<HELO>" when
 * the HELO named the session's customer (ADMIT_WIRE_HELO_NAMED), else
 * "device:<ip>" -- a HELO that did not name the customer is the client's
 * free choice, and a device must not get a new account for each word it
 * types.  The HELO lowercased and without a trailing dot; an IPv6
 * client keyed by its /64 ("device:2001%3Adb8%3A1%3A2%3A%3A%2F64"):
 * privacy addresses change inside it, and a /64 is one LAN.  Names go
 * through abuse_encode() and are lowercased, so an account is one word
 * of [a-z0-9._@+-:/%] (hex digits of %XX upper case) and the counting
 * agrees with relay-policy's lookup, which ignores case.
 *
 * Files, in DIR/abuse/ (user_queue, 0755; files 0644, replaced
 * atomically by relay-queue):
 *   accounts   "relaybox-abuse 1", then one line per account followed:
 *              key=value words (ABUSE_F_*), the evidence
 *   suspended  lib/susp.h's format, "user <name>" / "device <ip>[/<helo>]",
 *              the names as in the account (encoded): abuse_susp_line
 *              writes a line, abuse_susp_has finds one; read by
 *              relay-policy on top of DIR/suspended (and, with a shared
 *              store, mirrored to the fleet: lib/rstore_abuse.h)
 * queue.sock: relayctl (root only) sends
 *   op=abuse action=ack|release account=<account> by=<login>
 * and gets the usual reply frame (status=0, or 100 with text=). */
#ifndef ABUSE_H
#define ABUSE_H

#include <stddef.h>

struct susp;

#define ABUSE_DIR "abuse"
#define ABUSE_ACCOUNTS "abuse/accounts"
#define ABUSE_SUSPENDED "abuse/suspended"
#define ABUSE_MAGIC "relaybox-abuse 1"
#define ABUSE_LINE_MAX 8192    /* a line of abuse/accounts, its "\n" too */
#define ABUSE_KEY_MAX 800      /* "user:" + an address, encoded (3 x 254) */

#define ABUSE_KIND_USER "user"
#define ABUSE_KIND_DEVICE "device"
#define ABUSE_KIND_SENDER "sender"
/* relay-queue's "overflow:<customer>": the signals of a customer's
 * accounts beyond its share of abuse_accounts_max, counted together;
 * alerted, never suspended (it names no one device or user) */
#define ABUSE_KIND_OVERFLOW "overflow"
#define ABUSE_ACCOUNTS_MAX 2           /* accounts one message counts for */

/* queue.sock */
#define ABUSE_WIRE_OP "abuse"          /* the value of WIRE_QUEUE_OP */
#define ABUSE_WIRE_ACTION "action"
#define ABUSE_WIRE_ACK "ack"
#define ABUSE_WIRE_RELEASE "release"
#define ABUSE_WIRE_ACCOUNT "account"
#define ABUSE_WIRE_BY "by"

/* relay-send -> relay-queue, one frame per finished delivery job of a
 * customer's message, no reply (counts, not mail: a frame that cannot
 * be written now is dropped):
 *   op=signal account=<account> customer=<name> qid=<qid>
 *   delivered=N bounced=N rejected=N rejected_domains=<d>,<d>
 *   bounced_msgs=N bounced_domains=<d>,<d>
 * bounced: recipients refused for good; bounced_msgs: the destination
 * domains of those that had refused none of the message's recipients
 * in an earlier job, each once however many of its recipients it
 * refused (the bounce ratio counts these: one receiving domain cannot
 * make one message many bounces), named in bounced_domains; rejected:
 * likewise, the destination domains that refused the job's message
 * for spam or policy (a reply whose enhanced code, its first word, is
 * 5.7.N: abuse_policy_reply), named in rejected_domains.  The counts
 * are every such domain of the job; the lists name the first
 * ABUSE_REJECT_DOMAINS of them (what relay-queue keeps per account),
 * each as abuse_rcpt_domain gives it, cut to ABUSE_DOMAIN_MAX - 1
 * bytes, absent when empty.  A frame without bounced_msgs (an older
 * relay-send) counts the names of bounced_domains.  The frame of a
 * "sender" account also names the device account that sent the message
 * (device=): one device's evidence alerts once, as the device (relay-
 * queue's queue_abuse_sender.c). */
#define ABUSE_WIRE_SIGNAL "signal"     /* the value of WIRE_QUEUE_OP */
#define ABUSE_WIRE_CUSTOMER "customer"
#define ABUSE_WIRE_QID "qid"
#define ABUSE_WIRE_DELIVERED "delivered"
#define ABUSE_WIRE_BOUNCED "bounced"
#define ABUSE_WIRE_REJECTED "rejected"
#define ABUSE_WIRE_REJECTED_DOMAINS "rejected_domains"
#define ABUSE_WIRE_BOUNCED_DOMAINS "bounced_domains"
#define ABUSE_WIRE_BOUNCED_MSGS "bounced_msgs"
#define ABUSE_WIRE_DEVICE "device"
#define ABUSE_REJECT_DOMAINS 8         /* kept per job and per account */
#define ABUSE_DOMAIN_MAX 64
/* the bytes of a domain's name on the wire and in abuse/accounts
 * (abuse_rcpt_domain): never ',', ':', '=' or a space */
#define ABUSE_DOMAIN_CHARS "abcdefghijklmnopqrstuvwxyz0123456789.-_%"

/* fields of an accounts line */
#define ABUSE_F_ACCOUNT "account"
#define ABUSE_F_CUSTOMER "customer"
#define ABUSE_F_STATE "state"          /* ok, alerted, suspended */
#define ABUSE_F_SPAM "spam_24h"
#define ABUSE_F_SCANNED "scanned_24h"
#define ABUSE_F_DELIVERED "delivered_24h" /* recipients, relay-send's */
#define ABUSE_F_BOUNCED "bounced_24h"
#define ABUSE_F_REJECTED "rejected_24h"  /* 5.7.x refusals among them */
/* bounces once per message and recipient domain: the bounce ratio's */
#define ABUSE_F_BOUNCED_MSGS "bounced_msgs_24h"
#define ABUSE_F_BASELINE "baseline_per_hour" /* recipients tried, average */
#define ABUSE_F_SINCE "since"          /* followed since (Unix time) */
#define ABUSE_F_REASON "reason"        /* what crossed: spam, rejected,
					  bounced, "-" */
#define ABUSE_F_ALERTED "alerted"      /* Unix time, 0 = never */
#define ABUSE_F_SUSPENDED "suspended"
#define ABUSE_F_ACKED "acked_by"       /* who acknowledged the alert, "-" */
#define ABUSE_F_MAILED "mailed"        /* the last mail to the admin (Unix
					  time, 0 = none): a restart sends
					  no reminder before its time */
#define ABUSE_F_SAMPLES "samples"      /* the last spam queue ids, "," */
#define ABUSE_F_SYMBOLS "symbols"      /* the scanner's symbols, "," */
/* The hourly counts behind the *_24h sums, so that a restart keeps
 * their times: the hour (Unix time / 3600) of the newest, then per
 * count "AGE:N,..." (N in the hour AGE hours before it, 0..23; "-"
 * when none).  A file without them is from before: its sums are taken
 * as counted in the hour of the start. */
#define ABUSE_F_HOUR "hour"
#define ABUSE_F_SPAM_H "spam_hours"
#define ABUSE_F_SCANNED_H "scanned_hours"
#define ABUSE_F_DELIVERED_H "delivered_hours"
#define ABUSE_F_BOUNCED_H "bounced_hours"
#define ABUSE_F_REJECTED_H "rejected_hours"
#define ABUSE_F_BOUNCED_MSGS_H "bounced_msgs_hours"
/* the domains that refused for spam or policy in 24 h, "DOMAIN:AGE,..."
 * (AGE: hours before hour= of the last refusal), "-" when none; the
 * same for the domains that bounced.  A file without bounced_msgs_hours
 * and bounced_by is from before: its bounces count for no ratio. */
#define ABUSE_F_REJECTED_BY "rejected_by"
#define ABUSE_F_BOUNCED_BY "bounced_by"
/* a sender: account's device: a hash of the device account its last
 * evidence (spam, a bounce) came from (16 hex digits), and the hours
 * since evidence last came from another one ("-": none, or never) */
#define ABUSE_F_FROM_DEVICE "from_device"
#define ABUSE_F_FROM_OTHERS "from_others"

/* p (n bytes) into out with every byte outside [A-Za-z0-9._@+-] as %XX;
 * 0, or -1 when it does not fit. */
int abuse_encode(char *out, size_t outsz, const char *p, size_t n);
/* The account of a device (no AUTH), as above; helo_named: the HELO
 * named the customer.  0, or -1 only when n < ABUSE_KEY_MAX: a HELO that
 * does not fit gives the address alone, so no signal is ever lost. */
int abuse_device(char *out, size_t n, const char *ip, const char *helo,
		 int helo_named);
/* The device key before HELOs were normalised ("device:<ip>/<HELO as
 * typed>"): relay-policy still honours suspensions of that form, so an
 * upgrade keeps them in force.  0 or -1. */
int abuse_device_typed(char *out, size_t n, const char *ip, const char *helo);
/* The accounts a message counts for: "user:<auth>" alone when auth is
 * not empty; else abuse_device(), and "sender:<registered>" after it
 * when registered is not empty.  Any may be NULL.  How many (1 or 2),
 * or -1 when one does not fit (an address of ADDR_MAX bytes always
 * does). */
int abuse_accounts(char out[][ABUSE_KEY_MAX], const char *auth,
		   const char *registered, const char *ip, const char *helo,
		   int helo_named);
/* An account split into the kind and name of a suspended line ("user"
 * or "sender", "a@b.example"; "device", "192.0.2.7/printer.example.com"): pointers
 * into account, the kind cut at its ':' in kind (n bytes).  0 or -1. */
int abuse_split(const char *account, char *kind, size_t n,
		const char **name);

/* 1 when a reply refuses for spam or policy: a 5xx code whose text's
 * first word, the enhanced status code (RFC 3463), is 5.7.N -- not
 * "5.7." anywhere in the text. */
int abuse_policy_reply(int code, const char *text);
/* The domain of rcpt (after its last '@') as the abuse counts name
 * it, into out (n bytes, cut to fit): its A-label (a U-label and its
 * A-label, in any case, are one domain), lowercased; the bytes of a
 * name that has no A-label (or an address literal) outside
 * ABUSE_DOMAIN_CHARS as %xx (lowercase UTF-8 otherwise).  0, or -1
 * when it has no domain. */
int abuse_rcpt_domain(char *out, size_t n, const char *rcpt);
/* The line of abuse/suspended that suspends account ("kind name\n"),
 * the one form relay-queue writes and abuse_susp_has reads.  0 or -1. */
int abuse_susp_line(char *out, size_t n, const char *account);
/* 1 when s (abuse/suspended or the fleet's copy) suspends kind's name as
 * relay-policy knows it: an address as the client gave it (a user's
 * line holds it encoded, o%27brien@example.com); a device's name is
 * already an account name (abuse_account's, after "device:"). */
int abuse_susp_has(const struct susp *s, const char *kind, const char *name);

#endif
