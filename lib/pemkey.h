/* pemkey.h: how every private key (DKIM, TLS) is read from PEM. */
#ifndef PEMKEY_H
#define PEMKEY_H

/* OpenSSL's passphrase callback for every key read: none, so an
 * encrypted key is refused.  Without it OpenSSL asks on the controlling
 * terminal and waits there (deaf to SIGALRM and SIGTERM): makecdb, or a
 * daemon started from a terminal, would hang. */
int pem_no_passphrase(char *buf, int size, int rw, void *u);

#endif
