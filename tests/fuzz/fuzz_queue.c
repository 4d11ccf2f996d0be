// links: queue/queue_*.c tests/fuzz/instance.c
/* fuzz_queue.c: relay-queue's inline injection ("op=inline": message
 * frames, an empty frame, envelope frames, an empty frame) on arbitrary
 * frames, as relay-smtpd or relay-send would send them.  Whatever comes:
 * - from relay-smtpd's uid (bit 0 of byte 0) nothing is written without
 *   relay-policy's proof, which the input cannot forge (the key is the
 *   target's);
 * - a message that is written reads back as the queue file relay-send
 *   will trust: qfile_read accepts it, with the envelope's sender and
 *   recipients, each a mailbox by addr_mailbox_check.
 * The tmp/ file is removed again by queue_job_free (not committed).
 *
 * Input: byte 0 flags; then frames, each a 2-byte big-endian length and
 * its bytes (a length of 0 is the empty frame that ends a part). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "qfile.h"
#include "settings.h"
#include "instance.h"
#include "../../queue/queue.h"

static void fq_setup(void)
{
	static int done;
	struct admit_key key;

	if (done++)
		return;
	fuzz_instance("hostname = relay.test\n");
	if (queue_dirs_ensure(cf.queue_dir) < 0)
		abort();
	memset(&key, 0x5a, sizeof key);
	queue_admit_set_key(&key);
}

/* The written file, as relay-send will read it. */
static void fq_check_written(struct queue_job *j)
{
	struct qfile q;
	char err[256];

	if (qfile_load(j->tmp, &q, err, sizeof err) < 0)
		abort();
	if (strcmp(q.from, j->q.from) || q.nrcpt != j->q.nrcpt || !q.nrcpt)
		abort();
	if (*q.from && addr_mailbox_check(q.from, 1) != ADDR_OK)
		abort();
	for (size_t i = 0; i < q.nrcpt; i++)
		if (strcmp(q.rcpt[i], j->q.rcpt[i]) ||
		    addr_mailbox_check(q.rcpt[i], 1) != ADDR_OK)
			abort();
	qfile_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_job j;
	size_t off = 1;
	int rc = 0;

	if (size < 1)
		return 0;
	fq_setup();
	queue_job_init(&j, -1, -1);
	j.inl = JOB_MSG;
	j.need_admit = data[0] & 1;
	while (rc == 0 && off + 2 <= size) {
		size_t n = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (n > size - off)
			n = size - off;
		rc = queue_job_frame(&j, (const char *)data + off, n);
		off += n;
	}
	if (rc == 1) {
		if (j.need_admit)
			abort(); /* written without relay-policy's proof */
		fq_check_written(&j);
	}
	queue_job_free(&j);
	return 0;
}
