/* instance.c: see instance.h. */
#include "instance.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"

void fuzz_instance_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	size_t n = strlen(text);
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		abort();
	close(fd);
}

const char *fuzz_instance(const char *conf)
{
	static char dir[] = "/tmp/relaybox-fuzz.XXXXXX";

	if (!mkdtemp(dir))
		abort();
	fuzz_instance_file(dir, "relay.conf", conf);
	settings_load(dir);
	return dir;
}
