/* hang_link.c: an LD_PRELOAD shim for tests/e2e/test_queue_seal.py.  It
 * stops relay-queue between a client's 250 and the naming of its file in
 * new/ (the link of pool/<name> to new/<qid>), so that the test can kill
 * it in that window.  linkat, in the program named by HANG_LINK_PROG
 * only: when the file HANG_LINK_MARKER exists, it is removed (once, so
 * the restarted daemon links freely) and the calling thread blocks until
 * the process is killed; while the file HANG_LINK_FAIL exists, it fails
 * with ENOSPC (a full disk); else the real linkat.  unlinkat the same
 * with HANG_UNLINK_MARKER: the naming thread held after its link and
 * fsync of new/, before it removes the pool name.  renameat2 fails with
 * ENOSPC in the program named by HANG_RENAME_PROG while the file
 * HANG_RENAME_FAIL exists (relay-send's retire); in the same program
 * an open for append of a file in a state/ folder fails with ENOSPC
 * while HANG_STATE_FAIL exists.  Built without the
 * sanitizers, as build/hang_link.so (tests/module.mk). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The file named by env exists, in the program named by prog_env. */
static int fail_wanted(const char *prog_env, const char *env)
{
	const char *prog = getenv(prog_env), *fail = getenv(env);

	return prog && fail && strcmp(prog, program_invocation_short_name) == 0 &&
	       access(fail, F_OK) == 0;
}

/* The libc function behind ours, or NULL (errno ENOSYS). */
static void *real_fn(void **slot, const char *name)
{
	if (!*slot)
		*slot = dlsym(RTLD_NEXT, name);
	if (!*slot)
		errno = ENOSYS;
	return *slot;
}

typedef int (*linkat_fn)(int, const char *, int, const char *, int);
typedef int (*unlinkat_fn)(int, const char *, int);
typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned);
typedef int (*open_fn)(const char *, int, ...);

int linkat(int olddirfd, const char *oldpath, int newdirfd,
	   const char *newpath, int flags)
{
	static void *real;

	if (hang_wanted("HANG_LINK_MARKER"))
		hang();
	if (fail_wanted("HANG_LINK_PROG", "HANG_LINK_FAIL")) {
		errno = ENOSPC;
		return -1;
	}
	if (!real_fn(&real, "linkat"))
		return -1;
	return ((linkat_fn)real)(olddirfd, oldpath, newdirfd, newpath, flags);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	static void *real;

	if (hang_wanted("HANG_UNLINK_MARKER"))
		hang();
	if (!real_fn(&real, "unlinkat"))
		return -1;
	return ((unlinkat_fn)real)(dirfd, path, flags);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd,
	      const char *newpath, unsigned flags)
{
	static void *real;

	if (fail_wanted("HANG_RENAME_PROG", "HANG_RENAME_FAIL")) {
		errno = ENOSPC;
		return -1;
	}
	if (!real_fn(&real, "renameat2"))
		return -1;
	return ((renameat2_fn)real)(olddirfd, oldpath, newdirfd, newpath,
				    flags);
}

int open(const char *path, int flags, ...)
{
	static void *real;
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if ((flags & O_APPEND) && strstr(path, "/state/") &&
	    fail_wanted("HANG_RENAME_PROG", "HANG_STATE_FAIL")) {
		errno = ENOSPC;
		return -1;
	}
	if (!real_fn(&real, "open"))
		return -1;
	return ((open_fn)real)(path, flags, mode);
}
