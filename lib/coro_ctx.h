/* coro_ctx.h: what coro.c runs a coroutine with: its stack (an mmap
 * with a guard page below it, kept for reuse) and the switch between
 * contexts.  On x86-64 the switch is a few
 * instructions: the callee-saved registers are pushed on the stack being
 * left and the stack pointer swapped, no system call (glibc's swapcontext
 * also saves and restores the signal mask: two rt_sigprocmask calls per
 * switch, four per wait).  Elsewhere, and where shadow stacks are built
 * in (-fcf-protection), ucontext.  Coroutines never change their signal
 * mask, so there is none to keep. */
#ifndef CORO_CTX_H
#define CORO_CTX_H

#include <stddef.h>

#if defined(__x86_64__) && !(defined(__CET__) && (__CET__ & 2))
#define CORO_CTX_ASM 1
struct coro_ctx {
	void *sp;       /* where the switch left it */
	void *stack;    /* the stack it runs on, size bytes */
	size_t size;
};
#else
#define CORO_CTX_ASM 0
#include <ucontext.h>
struct coro_ctx {
	ucontext_t uc;
	void *stack;
	size_t size;
};
#endif

/* Make ctx run entry() (which never returns) on [stack, stack + size)
 * at the first switch to it; 0 or -1. */
int coro_ctx_make(struct coro_ctx *ctx, void *stack, size_t size,
		  void (*entry)(void));
/* Keep what runs now in from, go on with to. */
void coro_ctx_switch(struct coro_ctx *from, struct coro_ctx *to);
/* Where a context switched out has its stack pointer; NULL where the
 * machine's context is not known here. */
char *coro_ctx_sp(const struct coro_ctx *ctx);

/* A guard page and len - page bytes of stack above it (len a multiple
 * of page): one kept from a finished coroutine or a new mmap; NULL when
 * out of memory. */
char *coro_ctx_stack_get(size_t len, size_t page);
/* Done with it: kept for the next one (a few at most) or unmapped. */
void coro_ctx_stack_put(char *map, size_t len);

#endif
