/* ctl_suspend.c: placeholder until the owning part lands its implementation. */
#include "ctl.h"

#include <stdio.h>

int ctl_suspend(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "relayctl: suspend: not built yet\n");
	return 111;
}
