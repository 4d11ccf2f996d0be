/* fuzz_ns.c: the netstring reader on arbitrary bytes (from a memfd, so
 * the reader does real reads), and encode/read round trips. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ns.h"

static int fuzz_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", 0);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Read every frame; each must lie inside the input and be terminated. */
static void fuzz_read(const uint8_t *data, size_t size)
{
	struct ns_reader r;
	char *pl;
	size_t len, total = 0;
	int fd = fuzz_memfd(data, size), rc;

	if (ns_reader_init(&r, fd) < 0)
		abort();
	while ((rc = ns_reader_next(&r, &pl, &len)) == 1) {
		if (len > NS_MAX || pl[len] != '\0')
			abort();
		total += len + 3;
		if (total > size)
			abort();
	}
	if (rc != -1 || (errno != 0 && errno != EPROTO))
		abort();
	ns_reader_free(&r);
	close(fd);
}

/* Whatever the payload, encoding then reading gives it back. */
static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 16), *pl;
	size_t n = ns_encode(buf, size + 16, (const char *)data, size), len;
	struct ns_reader r;
	int fd;

	if (size <= NS_MAX && n == 0)
		abort();
	if (n) {
		fd = fuzz_memfd((const uint8_t *)buf, n);
		ns_reader_init(&r, fd);
		if (ns_reader_next(&r, &pl, &len) != 1 || len != size ||
		    memcmp(pl, data, size) != 0)
			abort();
		ns_reader_free(&r);
		close(fd);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_read(data, size);
	fuzz_roundtrip(data, size);
	return 0;
}
