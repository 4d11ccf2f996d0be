/* susp.h: the operator's suspension overrides (DIR/suspended), written by
 * `relayctl suspend|unsuspend` and followed by relay-policy on top of the
 * `suspended=yes` flags in relay.rules.  One entry a line:
 *   user <address>      or      customer <name>
 * The file is always replaced atomically (temp file, fsync, rename). */
#ifndef SUSP_H
#define SUSP_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define SUSP_MAX (1024 * 1024)   /* larger files are refused */

struct susp {
	char *path;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	char *data;     /* the file's text, NUL-terminated; NULL when absent */
	int refused;    /* what is there now (dev, ino, mtime) was refused */
};

int susp_init(struct susp *s, const char *path);
/* Re-read the file when it changed; a vanished file clears the list. */
void susp_refresh(struct susp *s);
/* 1 when "kind name" is listed (kind "user" or "customer"), case
 * ignored in the name; a name "<prefix>/" followed by "*" asks whether any name under
 * "<prefix>/" is (abuse monitoring's devices of one address). */
int susp_has(const struct susp *s, const char *kind, const char *name);
void susp_free(struct susp *s);

/* Add (add=1) or remove an entry, replacing the file atomically.
 * Returns 0 when changed, 1 when already so, -1 on error (errno). */
int susp_edit(const char *path, const char *kind, const char *name, int add);
/* Replace path by text (len bytes) for good: a temporary file beside it
 * (lib/dirfile.h: made in the opened folder, mode) written and fsync'd,
 * renamed over path,
 * then the folder fsync'd so that the rename survives a crash too.
 * 0, or -1 (errno); on error path is as it was. */
int susp_write_atomic(const char *path, const char *text, size_t len,
		      mode_t mode);

#endif
