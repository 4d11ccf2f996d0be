/* coro_ctx.c: coroutines' stacks and context switch (see coro_ctx.h). */
#include "coro_ctx.h"

#include <stdint.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#if CORO_CTX_ASM
/* coro_switch_sp(&save, load): push the callee-saved registers and the
 * SSE and x87 control words, save the stack pointer in *save, load
 * load, pop the same from there and return into what it was doing (or,
 * the first time, into its entry: coro_ctx_make's frame). */
void coro_switch_sp(void **save, void *load);
__asm__(".text\n"
	".globl coro_switch_sp\n"
	".hidden coro_switch_sp\n"
	".type coro_switch_sp, @function\n"
	"coro_switch_sp:\n"
	"\tpushq %rbp\n"
	"\tpushq %rbx\n"
	"\tpushq %r12\n"
	"\tpushq %r13\n"
	"\tpushq %r14\n"
	"\tpushq %r15\n"
	"\tsubq $8, %rsp\n"
	"\tstmxcsr (%rsp)\n"
	"\tfnstcw 4(%rsp)\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tldmxcsr (%rsp)\n"
	"\tfldcw 4(%rsp)\n"
	"\taddq $8, %rsp\n"
	"\tpopq %r15\n"
	"\tpopq %r14\n"
	"\tpopq %r13\n"
	"\tpopq %r12\n"
	"\tpopq %rbx\n"
	"\tpopq %rbp\n"
	"\tret\n"
	".size coro_switch_sp, .-coro_switch_sp\n");

int coro_ctx_make(struct coro_ctx *ctx, void *stack, size_t size,
		  void (*entry)(void))
{
	/* from the top, 16-aligned: a null return address for entry (it
	 * never returns), entry for the switch's ret, six registers, the
	 * control words; entry then starts with rsp % 16 == 8, as after a
	 * call */
	uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
	uint64_t *f = (uint64_t *)(top - 72);
	uint32_t mxcsr;
	uint16_t fpucw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fpucw));
	for (int i = 0; i < 9; i++)
		f[i] = 0;
	f[0] = mxcsr | (uint64_t)fpucw << 32;
	f[7] = (uint64_t)(uintptr_t)entry;
	ctx->sp = f;
	ctx->stack = stack;
	ctx->size = size;
	return 0;
}

void coro_ctx_switch(struct coro_ctx *from, struct coro_ctx *to)
{
	coro_switch_sp(&from->sp, to->sp);
}

char *coro_ctx_sp(const struct coro_ctx *ctx)
{
	return ctx->sp;
}
#else
/* getcontext returns twice as far as the compiler knows (it never does
 * here: the context is only ever entered by makecontext's function);
 * kept apart so that the caller's locals are not thought clobbered. */
static __attribute__((noinline)) int ctx_get(ucontext_t *u)
{
	return getcontext(u);
}

int coro_ctx_make(struct coro_ctx *ctx, void *stack, size_t size,
		  void (*entry)(void))
{
	if (ctx_get(&ctx->uc) < 0)
		return -1;
	ctx->uc.uc_stack.ss_sp = stack;
	ctx->uc.uc_stack.ss_size = size;
	ctx->uc.uc_link = NULL;
	makecontext(&ctx->uc, entry, 0);
	ctx->stack = stack;
	ctx->size = size;
	return 0;
}

void coro_ctx_switch(struct coro_ctx *from, struct coro_ctx *to)
{
	swapcontext(&from->uc, &to->uc);
}

char *coro_ctx_sp(const struct coro_ctx *ctx)
{
#if defined(__x86_64__)
	return (char *)ctx->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	return (char *)ctx->uc.uc_mcontext.sp;
#else
	(void)ctx;
	return NULL;
#endif
}
#endif

/* Stacks of finished coroutines kept for the next ones: a session
 * costs no mmap, mprotect and munmap; at most this many, so that the
 * pages they touched and keep stay a small sum per process. */
#define STACK_CACHE 16
static struct {
	char *map;
	size_t len;
} stack_cache[STACK_CACHE];
static int stack_cached;

char *coro_ctx_stack_get(size_t len, size_t page)
{
	char *map;

	for (int i = stack_cached; i-- > 0;)
		if (stack_cache[i].len == len) {
			map = stack_cache[i].map;
			stack_cache[i] = stack_cache[--stack_cached];
#if defined(__SANITIZE_ADDRESS__)
			/* frames left by the last one's switch out */
			ASAN_UNPOISON_MEMORY_REGION(map + page, len - page);
#endif
			return map;
		}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map != MAP_FAILED && mprotect(map, page, PROT_NONE) < 0) {
		munmap(map, len);
		map = MAP_FAILED;
	}
	return map == MAP_FAILED ? NULL : map;
}

void coro_ctx_stack_put(char *map, size_t len)
{
	if (stack_cached < STACK_CACHE) {
		stack_cache[stack_cached].map = map;
		stack_cache[stack_cached++].len = len;
	} else
		munmap(map, len);
}
