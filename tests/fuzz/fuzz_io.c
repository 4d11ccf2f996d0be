/* fuzz_io.c: io_getline on arbitrary bytes with a line buffer size from
 * the first byte: lines stay inside the buffer and terminated, and the
 * flags agree with what the bytes were. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct io io;
	size_t max, len, seen = 0;
	unsigned fl;
	char *line;
	int fd, rc;

	if (size == 0)
		return 0;
	max = 1 + data[0] % 64;
	fd = memfd_create("fuzzio", 0);
	if (fd < 0 || (size > 1 && write(fd, data + 1, size - 1) !=
					    (ssize_t)(size - 1)))
		abort();
	lseek(fd, 0, SEEK_SET);
	io_init(&io, fd, -1, 1000);
	line = malloc(max);
	while ((rc = io_getline(&io, line, max, &len, &fl)) == 1) {
		if (len >= max || line[len] != '\0')
			abort();
		if ((fl & IO_CRLF) && (fl & IO_BARE_LF))
			abort();
		if ((fl & IO_PARTIAL) && (fl & (IO_CRLF | IO_BARE_LF)))
			abort();
		if (!(fl & IO_TOOLONG) && memchr(line, '\n', len))
			abort();
		if (++seen > size)
			abort(); /* more lines than bytes: a loop */
	}
	if (rc != 0)
		abort();
	free(line);
	close(fd);
	return 0;
}
