/* ctl_passwd.c: relayctl passwd [USER] reads a password from the tty with
 * echo off (or one line from stdin when it is not a tty) and prints a
 * yescrypt hash -- as a ready relay.rules line when USER is given.  The
 * password is never taken from the command line. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "pwhash.h"

int ctl_passwd(int argc, char **argv)
{
	char hash[PWHASH_MAX];
	const char *err;

	if (argc > 1 || (argc == 1 && (argv[0][0] == '-' || strchr(argv[0], '=')))) {
		fprintf(stderr, "usage: relayctl passwd [USER]  (the password is "
				"read from the terminal or stdin)\n");
		return EXIT_PERM;
	}
	if (pwhash_ask(hash, sizeof hash, &err) < 0) {
		fprintf(stderr, "relayctl: passwd: %s\n", err);
		return EXIT_PERM;
	}
	if (argc == 1)
		printf("user %s hash=%s\n", argv[0], hash);
	else
		puts(hash);
	return EXIT_DONE;
}
