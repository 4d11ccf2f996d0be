/* smtp_tls.h: STARTTLS and implicit TLS (port 465) for relay-smtpd, over
 * lib/tls.h.  The certificate and key come from root (lib/tls_store.h);
 * the server context is kept across sessions and rebuilt when
 * relay-master published another certificate, so a renewed one serves
 * the next connection after relayctl reload. */
#ifndef SMTP_TLS_H
#define SMTP_TLS_H

struct smtp_session;

/* Take relay-master's certificate store, or read tls_cert and tls_key
 * into one of our own: call before dropping root. */
void smtp_tls_init(void);

/* RELAYBOX_TLS=1: handshake before the greeting; -1 ends the session. */
int smtp_tls_implicit(struct smtp_session *s);
/* End TLS (end of session); the context stays for the next one. */
void smtp_tls_close(struct smtp_session *s);

#endif
