/* smtp_auth.h: the pure parts of AUTH, unit tested. */
#ifndef SMTP_AUTH_H
#define SMTP_AUTH_H

#include <stddef.h>

/* Strict base64 (RFC 4648, padding required; "=" alone is empty) into
 * out[outsz], NUL-terminated; *outlen bytes.  -1 when malformed or too
 * long. */
int smtp_auth_b64decode(const char *in, char *out, size_t outsz,
			size_t *outlen);

/* Split a decoded PLAIN response "authzid\0authcid\0passwd" into user
 * and pass (each at least 256 bytes).  -1 when malformed, a field is too
 * long, or authzid names someone other than authcid. */
int smtp_auth_plain_split(const char *buf, size_t n, char *user,
			  char *pass);

#endif
