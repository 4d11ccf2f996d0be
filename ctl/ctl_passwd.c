/* ctl_passwd.c: placeholder until the owning part lands its implementation. */
#include "ctl.h"

#include <stdio.h>

int ctl_passwd(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "relayctl: passwd: not built yet\n");
	return 111;
}
