/* smtp_tls.h: STARTTLS and implicit TLS (port 465) for relay-smtpd, over
 * lib/tls.h.  The server context is kept across sessions and rebuilt
 * when cf.tls_cert or cf.tls_key changed, so a replaced certificate
 * serves the next connection. */
#ifndef SMTP_TLS_H
#define SMTP_TLS_H

struct smtp_session;

/* RELAYBOX_TLS=1: handshake before the greeting; -1 ends the session. */
int smtp_tls_implicit(struct smtp_session *s);
/* End TLS (end of session); the context stays for the next one. */
void smtp_tls_close(struct smtp_session *s);

#endif
