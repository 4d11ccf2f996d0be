// links: send/remote_dns.c send/remote_mx.c send/remote_job.c
/* fuzz_dns.c: relay-remote's handling of DNS answers.  The target plays
 * the DNS server: its res_nquery (which the linker takes before libc's)
 * hands the input to remote_dns.c as the answer to whatever was asked.
 * Through remote_mx_targets (MX, null MX, implicit MX) and
 * remote_dns_addrs (A and AAAA) nothing may overrun, and what comes back
 * must be usable as it is: at most the asked-for number of hosts and
 * addresses, host names of printable characters that fit, addresses of a
 * known family, and on failure every recipient given a result.
 *
 * Input: byte 0 picks the lookup (bit 0: addresses, else MX targets) and
 * byte 1 how res_nquery answers (bit 0: claim a longer answer than it
 * wrote; bits 1-2: fail with HOST_NOT_FOUND, NO_DATA or TRY_AGAIN); the
 * rest is the answer. */
#include <netdb.h>
#include <resolv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../send/remote.h"

static const uint8_t *fz_ans;
static size_t fz_len;
static int fz_how;

int res_nquery(res_state st, const char *dname, int class, int type,
	       unsigned char *answer, int anslen)
{
	static const int herr[] = { 0, HOST_NOT_FOUND, NO_DATA, TRY_AGAIN };
	size_t n = fz_len < (size_t)anslen ? fz_len : (size_t)anslen;

	(void)dname, (void)class, (void)type;
	if (herr[(fz_how >> 1) & 3]) {
		st->res_h_errno = herr[(fz_how >> 1) & 3];
		return -1;
	}
	memcpy(answer, fz_ans, n);
	/* a truncated answer reports its whole length, as glibc's does */
	return (fz_how & 1) ? (int)n + 512 : (int)n;
}

static void fz_name_ok(const char *name)
{
	size_t n = strnlen(name, REMOTE_NAME_MAX);

	if (n == 0 || n >= REMOTE_NAME_MAX)
		abort();
	for (; *name; name++)
		if ((unsigned char)*name <= ' ' || (unsigned char)*name >= 0x7f)
			abort();
}

static void fz_targets(void)
{
	struct remote_rcpt r[2] = { { .index = 0 }, { .index = 1 } };
	struct remote_job job = { .rcpt = r, .nrcpt = 2 };
	struct remote_target t[REMOTE_TRIES_MAX];
	size_t n = 99;

	strcpy(job.domain, "example.org");
	strcpy(r[0].addr, "a@example.org");
	strcpy(r[1].addr, "b@example.org");
	if (remote_mx_targets(&job, t, REMOTE_TRIES_MAX, &n) < 0) {
		if (r[0].status == 0 || r[1].status == 0)
			abort();
		return;
	}
	if (n == 0 || n > REMOTE_TRIES_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		fz_name_ok(t[i].name);
		if (i && t[i].pref < t[i - 1].pref)
			abort(); /* preference order */
	}
}

static void fz_addrs(void)
{
	struct remote_ip ip[REMOTE_ADDR_MAX];
	size_t n = 99;
	enum dns_status s =
	    remote_dns_addrs("mx.example.org", ip, REMOTE_ADDR_MAX, &n);

	if (n > REMOTE_ADDR_MAX || (s == DNS_OK) != (n > 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (ip[i].family != AF_INET && ip[i].family != AF_INET6)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	fz_how = data[1];
	fz_ans = data + 2;
	fz_len = size - 2;
	if (data[0] & 1)
		fz_addrs();
	else
		fz_targets();
	return 0;
}
