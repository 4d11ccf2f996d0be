/* pemkey.c: see pemkey.h. */
#include "pemkey.h"

int pem_no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf, (void)size, (void)rw, (void)u;
	return 0;
}
