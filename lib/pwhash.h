/* pwhash.h: password hashes for SMTP AUTH users (crypt(3) via libcrypt).
 * Only yescrypt ("$y$") and SHA-512 ("$6$") hashes are accepted; a
 * password is never taken from the command line. */
#ifndef PWHASH_H
#define PWHASH_H

#include <stddef.h>

#define PWHASH_MAX 256     /* longest hash we store */
#define PWHASH_PASS_MAX 1024

/* 1 when hash is a well-formed "$y$..." or "$6$..." crypt string. */
int pwhash_valid(const char *hash);

/* Read one password line from the tty with echo off (prompting on
 * stderr), or from stdin when it is not a tty.  0, or -1 at EOF/error. */
int pwhash_read(const char *prompt, char *buf, size_t n);

/* Make a yescrypt hash of pw into out; 0 or -1. */
int pwhash_make(const char *pw, char *out, size_t n);

/* A valid hash of no one's password: an unknown user name is checked
 * against it so that it costs as long as a wrong password (no user
 * enumeration by timing). */
extern const char pwhash_unknown_user[];

/* 1 when pw matches hash (constant-time compare of the crypt output),
 * 0 otherwise or when hash is not acceptable.  Slow by design (tens of
 * ms): callers must not run it in an event loop that serves others. */
int pwhash_verify(const char *pw, const char *hash);

/* The operator's way to make a hash: read the password (twice on a tty),
 * refuse an empty one or a mismatch, hash it.  0, or -1 with err set. */
int pwhash_ask(char *hash, size_t n, const char **err);

#endif
