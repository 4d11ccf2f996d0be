/* smtp_frame.h: netstring frames to and from relay-policy and
 * relay-queue on a non-blocking unix socket, with a timeout, so that a
 * stuck daemon costs the client a 451 rather than a hung session. */
#ifndef SMTP_FRAME_H
#define SMTP_FRAME_H

#include <stddef.h>

#include "ns.h"

/* Write all n bytes; 0, or -1 on error or timeout.  With attach >= 0
 * that descriptor goes with the first byte (SCM_RIGHTS). */
int smtp_frame_write(int fd, const char *buf, size_t n, int timeout_ms);
int smtp_frame_write_fd(int fd, const char *buf, size_t n, int timeout_ms,
			int attach);
/* Next frame from r (its fd non-blocking): 1 with payload/len, -1 on
 * EOF, garbage, error or timeout. */
int smtp_frame_read(struct ns_reader *r, int timeout_ms, char **payload,
		    size_t *len);

#endif
