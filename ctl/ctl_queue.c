/* ctl_queue.c: placeholder until the owning part lands its implementation. */
#include "ctl.h"

#include <stdio.h>

int ctl_queue(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "relayctl: queue: not built yet\n");
	return 111;
}
