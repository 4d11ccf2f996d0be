/* coro.h: sessions as coroutines in one process.  Code written in the
 * blocking style (io.h's reads and writes, frame I/O to policy and
 * queue) runs in a coroutine on a small stack of its own; where it would
 * block it waits in coro_wait instead, which yields to the scheduler:
 * one epoll set for every waiting coroutine, and a deadline each, so
 * that a timeout is that coroutine's alone and a slow peer never holds
 * up another coroutine.  Outside a coroutine coro_self() is NULL and
 * callers block as before (one session per process).
 *
 * A wait costs no system call of its own: a descriptor is put in the
 * epoll set once, edge-triggered, at its first wait (for room too from
 * its first wait for room), and stays there until coro_forget or
 * coro_close; the events that come while no coroutine waits for them are
 * kept for the next wait.  A switch between coroutines is no system call
 * either (coro_ctx.h).  Deadlines are kept in a heap: the
 * nearest is found, and only the due ones expire, at each wake-up.
 *
 * Each stack is an mmap with a guard page below it (an overflow faults
 * instead of writing into a neighbour); only the pages a coroutine
 * touches cost memory, and those below where it waits go back to the
 * kernel when it waits long (coro_idle_hook). */
#ifndef CORO_H
#define CORO_H

#include <stddef.h>
#include <stdint.h>

struct coro;
typedef void coro_fn(void *arg);

/* The stack each coroutine gets (bytes, before the guard page). */
#define CORO_STACK_DEFAULT (128 * 1024)
/* Tags below this are the caller's own fds (coro_sched_watch); the
 * events of fds coroutines wait on carry a high bit, never this small. */
#define CORO_TAG_MAX 4096

/* The scheduler of this process; 0 or -1. */
int coro_sched_init(void);
/* Milliseconds on CLOCK_MONOTONIC, the clock of every deadline here. */
long coro_now_ms(void);
/* Watch a descriptor of the caller's own (a listener) for events
 * (EPOLLIN...); it comes back from coro_sched_run with tag. */
int coro_sched_watch(int fd, uint32_t events, uint64_t tag);
int coro_sched_unwatch(int fd);
/* A new coroutine running fn(arg), run at the next coro_sched_run;
 * enter(arg), if not NULL, is called each time before it runs again
 * (to point per-session globals at it).  NULL when out of memory. */
struct coro *coro_spawn(coro_fn *fn, void *arg, void (*enter)(void *),
			size_t stack);
/* Wait at most timeout_ms (-1: until something happens; 0 when a
 * coroutine is ready to run; no look at the fds at all when only new
 * ones are) for fds or deadlines, then run every coroutine that can run
 * (new ones, woken ones) until each waits or ends; the caller's watched
 * fds that became ready are put in tags[max], their number returned (-1
 * on error). */
int coro_sched_run(int timeout_ms, uint64_t *tags, int max);
/* Coroutines alive. */
size_t coro_count(void);

/* The coroutine running now, NULL outside any. */
struct coro *coro_self(void);
/* In a coroutine: wait until fd has events (POLLIN/POLLOUT) or
 * timeout_ms passed (<= 0: no deadline); 1 ready, 0 timeout, -1 error.
 * Edge-triggered: wait only once the read or write said EAGAIN (or
 * before the first one, or for bytes not yet sent: each arrival is an
 * edge), never for bytes already there but left unread.  1 may be
 * spurious (an edge consumed since): the fd must be non-blocking, and
 * the caller tries again and waits again on EAGAIN.  One coroutine at a
 * time waits on an fd (another gets -1, EBUSY). */
int coro_wait(int fd, short events, int timeout_ms);
/* After a read of fd in a coroutine: whether it drained the fd (said
 * EAGAIN, or read less than it asked for: nothing was left); an input
 * event kept for fd from before such a read is dropped then. */
void coro_read_done(int fd, int drained);
/* Whether the next read of fd is better tried before a wait: 0 when its
 * last read drained it while in the epoll set and no input came since
 * (any byte that comes will be an edge: a read now could only say
 * EAGAIN), 1 otherwise. */
int coro_read_first(int fd);
/* In a coroutine, a look at fd just now (a MSG_PEEK) found nothing to
 * read: its next read waits first, in the epoll set or not yet (putting
 * fd in reports any byte that came since): one read that could only say
 * EAGAIN saved.  Nothing outside a coroutine. */
void coro_read_none(int fd);
/* What the scheduler's looks at fd saw of a hang-up since its last
 * wait: 1 (EPOLLRDHUP, EPOLLHUP, EPOLLERR), 0 none, -1 unknown (fd not
 * in the epoll set, or outside a coroutine: poll it).  As of the last
 * epoll_wait, which a poll now could only narrow. */
int coro_fd_hung(int fd);
/* Before fd is closed or handed on (sent to another process): out of the
 * epoll set, so that the fd number, reused, starts afresh.  Nothing for
 * an fd never waited on; safe outside the scheduler.  The test build
 * aborts at a wait on a reused number that was never forgotten. */
void coro_forget(int fd);
/* coro_forget and close(fd) in one, one system call fewer: the close
 * takes fd out of the epoll set (when this was its last descriptor; one
 * still open elsewhere, handed on, can only bring events of a past life
 * of the number, which are ignored).  close's result. */
int coro_close(int fd);
/* In a coroutine: let the others run, come back at once after. */
void coro_yield(void);
/* A run budget: a coroutine whose reads keep finding bytes (a client
 * that keeps its socket full) never waits, so it would hold every other
 * coroutine and every deadline until it does.  Called after each read
 * that returned bytes (io.c), this yields (coro_yield: the others ready
 * run, the due deadlines expire, then it goes on) once the coroutine
 * has run CORO_RUN_US since it was resumed; one clock read a call,
 * nothing outside a coroutine. */
#define CORO_RUN_US 2000
void coro_maybe_yield(void);
/* Wait ms (> 0) on a deadline only, the others running meanwhile (for
 * what cannot be waited for on an fd: a unix connect that found the
 * listener's backlog full); outside a coroutine, sleep.  0, or -1 when
 * out of memory for the deadline (then it did not wait). */
int coro_sleep(int ms);

/* A coroutine that waited CORO_IDLE_MS to 2 * CORO_IDLE_MS without
 * running gives back the stack pages below where it waits, and
 * fn(arg) (set here by the coroutine itself; NULL: none) gives back
 * what else it keeps and does not need while idle.  fn runs in the
 * scheduler, outside the coroutine: it must not wait. */
#define CORO_IDLE_MS 1000
void coro_idle_hook(void (*fn)(void *arg), void *arg);

#endif
