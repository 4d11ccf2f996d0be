// links:
/* test_remote_nstry.c: ns_reader_try, relay-remote's look for the next
 * job without waiting, on a blocking socketpair: nothing there is 0 at
 * once; whole frames come one by one (from the buffer without a read);
 * half a frame is 0 and the rest completes it; EOF and garbage are -1
 * (EOF with errno 0 on a frame boundary). */
#include "ns.h"
#include "t.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int put(int fd, const char *s)
{
	return write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
}

int main(void)
{
	struct ns_reader r;
	char *p;
	size_t len;
	int sv[2];
	time_t t0 = time(NULL);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    ns_reader_init(&r, sv[0]) < 0)
		return 1;
	T_CHECK("empty: 0 without waiting",
		ns_reader_try(&r, &p, &len) == 0 && time(NULL) - t0 < 2);
	put(sv[1], "5:hello,3:abc,");
	T_CHECK("first frame", ns_reader_try(&r, &p, &len) == 1 &&
			       len == 5 && strcmp(p, "hello") == 0);
	T_CHECK("second frame from the same read",
		ns_reader_try(&r, &p, &len) == 1 && strcmp(p, "abc") == 0);
	T_CHECK("then nothing", ns_reader_try(&r, &p, &len) == 0);
	put(sv[1], "4:ab");
	T_CHECK("half a frame: 0", ns_reader_try(&r, &p, &len) == 0);
	put(sv[1], "cd,");
	T_CHECK("completed by the rest", ns_reader_try(&r, &p, &len) == 1 &&
					 strcmp(p, "abcd") == 0);
	T_CHECK("and nothing more",
		ns_reader_try(&r, &p, &len) == 0);
	close(sv[1]);
	errno = EINVAL;
	T_CHECK("EOF on a frame boundary: -1, errno 0",
		ns_reader_try(&r, &p, &len) == -1 && errno == 0);
	ns_reader_free(&r);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    ns_reader_init(&r, sv[0]) < 0)
		return 1;
	put(sv[1], "x:junk,");
	T_CHECK("garbage: -1 EPROTO",
		ns_reader_try(&r, &p, &len) == -1 && errno == EPROTO);
	ns_reader_free(&r);
	close(sv[0]);
	close(sv[1]);
	return t_done();
}
