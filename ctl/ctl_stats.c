/* ctl_stats.c: placeholder until the owning part lands its implementation. */
#include "ctl.h"

#include <stdio.h>

int ctl_stats(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "relayctl: stats: not built yet\n");
	return 111;
}
