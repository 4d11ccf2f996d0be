/* wire_queue.h: the protocol of run/queue.sock (ARCHITECTURE.md,
 * queue/QUEUE.md), defined once for relay-queue and its clients
 * (relay-smtpd, relay-send's notifications).  The admission proof's keys
 * are in admit.h. */
#ifndef WIRE_QUEUE_H
#define WIRE_QUEUE_H

/* The request frame: "op=inline" (message and envelope follow in frames)
 * or "op=inject" (with the message and envelope pipes attached). */
#define WIRE_QUEUE_OP "op"
#define WIRE_QUEUE_OP_INLINE "inline"
#define WIRE_QUEUE_OP_INJECT "inject"
#define WIRE_QUEUE_FRAME_INLINE WIRE_QUEUE_OP "=" WIRE_QUEUE_OP_INLINE "\n"
#define WIRE_QUEUE_FRAME_INJECT WIRE_QUEUE_OP "=" WIRE_QUEUE_OP_INJECT "\n"

/* The reply frame. */
#define WIRE_QUEUE_STATUS "status" /* 0, 100 or 111 (exitcodes.h) */
#define WIRE_QUEUE_ID "id"         /* the queue id, with status 0 */
#define WIRE_QUEUE_REASON "reason" /* why, for a program: qreason.h,
				      * not with status 0 */
#define WIRE_QUEUE_TEXT "text"     /* why, for a person */

/* What relay-queue takes from relay-smtpd's uid beyond message_size_max:
 * the CRLF relay-smtpd adds to a BDAT message whose last line has none
 * (the queue holds CRLF lines only).  message_size_max counts the bytes
 * the client sent, so that CRLF is not counted against it. */
#define WIRE_QUEUE_ADDED_MAX 2

#endif
