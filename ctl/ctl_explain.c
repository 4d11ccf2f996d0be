/* ctl_explain.c: placeholder until the owning part lands its implementation. */
#include "ctl.h"

#include <stdio.h>

int ctl_explain(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "relayctl: explain: not built yet\n");
	return 111;
}
