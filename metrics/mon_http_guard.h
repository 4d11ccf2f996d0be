/* mon_http_guard.h: the deadline for a request's headers
 * (mon_http_guard.c), libmicrohttpd callbacks that mon_http.c installs. */
#ifndef MON_HTTP_GUARD_H
#define MON_HTTP_GUARD_H

#include <microhttpd.h>

/* Start (0) or stop the thread that enforces MON_HTTP_HEADER_SECONDS. */
int mon_http_guard_start(void);
void mon_http_guard_stop(void);
/* MHD_OPTION_NOTIFY_CONNECTION: a connection opens or closes. */
void mon_http_guard_notify(void *cls, struct MHD_Connection *c,
			   void **socket_context,
			   enum MHD_ConnectionNotificationCode code);
/* MHD_OPTION_NOTIFY_COMPLETED: a request ended; the next one's headers
 * (keep-alive) are bounded again from now. */
void mon_http_guard_completed(void *cls, struct MHD_Connection *c,
			      void **state,
			      enum MHD_RequestTerminationCode toe);
/* In the access handler: this connection's headers are complete. */
void mon_http_guard_headers_done(struct MHD_Connection *c);

#endif
