/* smtp_auth.h: the pure parts of AUTH, unit tested. */
#ifndef SMTP_AUTH_H
#define SMTP_AUTH_H

#include <stddef.h>

/* Strict base64 (RFC 4648, padding required; "=" alone is empty) into
 * out[outsz], NUL-terminated; *outlen bytes.  -1 when malformed or too
 * long. */
int smtp_auth_b64decode(const char *in, char *out, size_t outsz,
			size_t *outlen);

/* Split a decoded PLAIN response "authzid\0authcid\0passwd" into authz
 * ("" when none), user and pass (each at least 256 bytes).  -1 when
 * malformed or a field is too long.  Whether authz may be used is
 * relay-policy's to say (only the user itself: a failed AUTH else). */
int smtp_auth_plain_split(const char *buf, size_t n, char *authz,
			  char *user, char *pass);

#endif
