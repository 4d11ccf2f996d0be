/* coro_fdw.h: coro.c's record of each descriptor a coroutine waited on
 * (internal to coro.c; see coro.h for the contract).  A descriptor is
 * registered once, edge-triggered, for input and hang-up, and for output
 * too from its first wait for room (a unix socket signals room each time
 * its peer reads: a wake-up per request to relay-policy or relay-queue,
 * were it always asked for); an event goes to the coroutine waiting for
 * it, or is kept in seen until one does.  Indexed by fd number;
 * coro_forget takes it out before the number can be reused.  gen, in
 * each registration's epoll data, tells an event for the fd of a
 * previous life (still open elsewhere) from one for this one. */
#ifndef CORO_FDW_H
#define CORO_FDW_H

#include <stdint.h>
#include <sys/types.h>

/* The test build checks that no fd is closed without coro_forget. */
#if defined(__SANITIZE_ADDRESS__)
#define CORO_FDW_CHECK 1
#else
#define CORO_FDW_CHECK 0
#endif

struct coro;

struct coro_fdw {
	struct coro *waiter;
	uint32_t want;        /* the waiter's EPOLL* bits */
	uint32_t seen;        /* EPOLL* bits come while nobody wanted them */
	uint32_t gen;
	uint32_t events;      /* registered for; 0 when not */
	int drained;          /* its last read (coro_read_done) left nothing */
#if CORO_FDW_CHECK
	dev_t dev;            /* what was registered, to catch a reuse */
	ino_t ino;
#endif
};

/* epoll data of a watched fd: this bit, gen << 32, fd; never a tag */
#define CORO_FDW_DATA_BIT (1ULL << 63)
#define CORO_FDW_GEN_MASK 0x7fffffffu

/* The record of fd; NULL when it has none (never waited on). */
struct coro_fdw *coro_fdw_at(int fd);
/* The record of fd, the table grown to hold it; NULL out of memory. */
struct coro_fdw *coro_fdw_get(int fd);
/* Into epoll set ep for good (until coro_forget), for input and hang-up
 * and more (EPOLLOUT): 0, or -1 with errno (EPERM: a regular file, which
 * is always ready).  Registered already: for more events, modified (the
 * kernel then reports what is ready now: no edge is lost). */
int coro_fdw_register(int ep, int fd, struct coro_fdw *w, uint32_t more);
/* poll(2) bits as the epoll bits a wait for them is woken by. */
uint32_t coro_fdw_want(short events);
#if CORO_FDW_CHECK
/* A registered fd is still the file registered, or abort: one closed
 * without coro_forget would never wake its next waiter. */
void coro_fdw_check(int fd, const struct coro_fdw *w);
#endif

#endif
