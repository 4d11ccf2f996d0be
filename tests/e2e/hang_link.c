/* hang_link.c: an LD_PRELOAD shim for tests/e2e/test_queue_seal.py.  It
 * stops relay-queue between a client's 250 and the naming of its file in
 * new/ (the link of pool/<name> to new/<qid>), so that the test can kill
 * it in that window.  linkat, in the program named by HANG_LINK_PROG
 * only: when the file HANG_LINK_MARKER exists, it is removed (once, so
 * the restarted daemon links freely) and the calling thread blocks until
 * the process is killed; while the file HANG_LINK_FAIL exists, it fails
 * with ENOSPC (a full disk); else the real linkat.  unlinkat the same
 * with HANG_UNLINK_MARKER: the naming thread held after its link and
 * fsync of new/, before it removes the pool name.  Built without the
 * sanitizers, as build/hang_link.so (tests/module.mk). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*linkat_fn)(int, const char *, int, const char *, int);

static int our_program(void)
{
	const char *prog = getenv("HANG_LINK_PROG");

	return prog && strcmp(prog, program_invocation_short_name) == 0;
}

/* The marker named by env removed by this call: once per marker. */
static int hang_wanted(const char *env)
{
	const char *marker = getenv(env);

	return our_program() && marker && unlink(marker) == 0;
}

static void hang(void)
{
	for (;;)
		pause();
}

static int fail_wanted(void)
{
	const char *fail = getenv("HANG_LINK_FAIL");

	return our_program() && fail && access(fail, F_OK) == 0;
}

int linkat(int olddirfd, const char *oldpath, int newdirfd,
	   const char *newpath, int flags)
{
	static linkat_fn real;

	if (hang_wanted("HANG_LINK_MARKER"))
		hang();
	if (fail_wanted()) {
		errno = ENOSPC;
		return -1;
	}
	if (!real)
		real = (linkat_fn)dlsym(RTLD_NEXT, "linkat");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

typedef int (*unlinkat_fn)(int, const char *, int);

int unlinkat(int dirfd, const char *path, int flags)
{
	static unlinkat_fn real;

	if (hang_wanted("HANG_UNLINK_MARKER"))
		hang();
	if (!real)
		real = (unlinkat_fn)dlsym(RTLD_NEXT, "unlinkat");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(dirfd, path, flags);
}
