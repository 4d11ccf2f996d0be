/* wire_policy.h: the protocol of run/policy.sock (ARCHITECTURE.md),
 * defined once for relay-policy and its clients (relay-smtpd, relayctl
 * explain): the request keys and phases, the reply keys and actions.
 * The admission proof's keys are in admit.h. */
#ifndef WIRE_POLICY_H
#define WIRE_POLICY_H

/* Requests: phase= and the facts of that phase. */
#define WIRE_POLICY_PHASE "phase"
#define WIRE_POLICY_PHASE_CONNECT "connect" /* ip, port, localport, tls */
#define WIRE_POLICY_PHASE_HELO "helo"       /* helo */
#define WIRE_POLICY_PHASE_TLS "tls"         /* tls, cipher */
#define WIRE_POLICY_PHASE_AUTH "auth"       /* user, pass, authz */
#define WIRE_POLICY_PHASE_MAIL "mail"       /* from, size */
#define WIRE_POLICY_PHASE_RCPT "rcpt"       /* rcpt */
#define WIRE_POLICY_PHASE_DATA "data"
#define WIRE_POLICY_PHASE_COMMIT "commit"   /* qid, rcpt... */
#define WIRE_POLICY_PHASE_RESET "reset"
#define WIRE_POLICY_PHASE_EXPLAIN "explain" /* ip helo user from rcpt tls */
#define WIRE_POLICY_IP "ip"
#define WIRE_POLICY_PORT "port"
#define WIRE_POLICY_LOCALPORT "localport"
#define WIRE_POLICY_TLS "tls"               /* "1" or "0" */
#define WIRE_POLICY_CIPHER "cipher"
#define WIRE_POLICY_HELO "helo"
#define WIRE_POLICY_USER "user"             /* also in the auth reply */
#define WIRE_POLICY_PASS "pass"
#define WIRE_POLICY_AUTHZ "authz"           /* PLAIN's authzid, when given */
#define WIRE_POLICY_FROM "from"             /* also in the mail reply */
#define WIRE_POLICY_SIZE "size"
#define WIRE_POLICY_RCPT "rcpt"
#define WIRE_POLICY_QID "qid"
#define WIRE_POLICY_NOREPLY "noreply"       /* "1": answer nothing */

/* Replies: action= and the SMTP reply; mail adds from= and customer=,
 * explain adds rule= and trace= lines. */
#define WIRE_POLICY_ACTION "action"
#define WIRE_POLICY_ACTION_ACCEPT "accept"
#define WIRE_POLICY_ACTION_REJECT "reject"
#define WIRE_POLICY_ACTION_TEMPFAIL "tempfail"
#define WIRE_POLICY_CODE "code"
#define WIRE_POLICY_ESC "esc"
#define WIRE_POLICY_TEXT "text"
#define WIRE_POLICY_CUSTOMER "customer"
#define WIRE_POLICY_RULE "rule"
#define WIRE_POLICY_TRACE "trace"

#endif
