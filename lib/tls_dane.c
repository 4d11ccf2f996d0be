/* tls_dane.c: DANE for SMTP (RFC 7672) with OpenSSL's own DANE support
 * (SSL_dane_enable, SSL_dane_tlsa_add): the TLSA records decide, not the
 * CA store.  Only DANE-TA(2) and DANE-EE(3) are usable for SMTP; a
 * DANE-EE match needs no name check (RFC 7672 3.1.1), a DANE-TA chain
 * must name the MX host (3.2.2). */
#include "tls.h"

#include <openssl/ssl.h>

int tls_tlsa_usable(const struct tls_tlsa *t)
{
	return (t->usage == 2 || t->usage == 3) && t->selector <= 1 &&
	       t->mtype <= 2 && t->len > 0 && t->len <= TLS_TLSA_DATA_MAX;
}

int tls_dane_apply(SSL *ssl, const char *servername,
		   const struct tls_tlsa *t, size_t nt)
{
	int added = 0;

	if (!servername || !*servername ||
	    SSL_dane_enable(ssl, servername) <= 0)
		return -1;
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	/* a chain that does not match a record fails the handshake */
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	for (size_t i = 0; i < nt; i++)
		if (tls_tlsa_usable(&t[i]) &&
		    SSL_dane_tlsa_add(ssl, t[i].usage, t[i].selector,
				      t[i].mtype, t[i].data, t[i].len) > 0)
			added++;
	return added > 0 ? 0 : -1;
}
