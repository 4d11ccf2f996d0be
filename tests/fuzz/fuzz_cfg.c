/* fuzz_cfg.c: cfg_load on arbitrary file contents (through a memfd):
 * never a crash, every error names a line, and what loads is in range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg.h"

static char *fz_str;
static long fz_int;
static int fz_bool;

static const struct cfg_item fz_tab[] = {
	{ "name", CFG_STR, "x", &fz_str, 0, 0 },
	{ "port", CFG_INT, "25", &fz_int, 1, 65535 },
	{ "flag", CFG_BOOL, "no", &fz_bool, 0, 0 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[1024];
	int fd = memfd_create("fuzzcfg", 0), rc;

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	rc = cfg_load(path, fz_tab, 3, 0, err, sizeof err);
	if (rc == 0 && (fz_int < 1 || fz_int > 65535 || !fz_str ||
			(fz_bool != 0 && fz_bool != 1)))
		abort();
	if (rc < 0 && strncmp(err, path, strlen(path)) != 0)
		abort();
	close(fd);
	return 0;
}
