/* smtp_stop.h: relay-smtpd told to stop (SIGTERM: relay-listen ends
 * every relay-smtpd when the whole relay stops, lib/stopsig.h; or
 * tcpserver, systemd stopping).  Every open session is cut: from then
 * on its reads of the client fail (one waiting for its client is woken:
 * the read side of its socket is shut down), and it tells its client
 * 421 4.3.2 before it closes (RFC 5321 3.8).  Nothing of a transaction
 * still open was acknowledged, so the client sends it again; a reply
 * already decided (250 once relay-queue has the message) still goes
 * out. */
#ifndef SMTP_STOP_H
#define SMTP_STOP_H

/* Install the SIGTERM handler; also (NULL for none) runs in it too (a
 * pool worker closes its listeners).  Before any session. */
void smtp_stop_init(void (*also)(void));
/* A session's client socket, to be woken by the stop; forgotten before
 * it is closed (its number is then another's). */
void smtp_stop_watch(int fd);
void smtp_stop_forget(int fd);
/* 1 once SIGTERM came. */
int smtp_stop_requested(void);

#endif
