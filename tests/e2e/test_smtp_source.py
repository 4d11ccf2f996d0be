#!/usr/bin/python3
"""test_smtp_source.py: 2,000 messages from Postfix's smtp-source over 20
parallel sessions all arrive at the receiving server, each exactly once:
the sink counts 2,000 (and no more after a pause), the relay logged 2,000
distinct queue ids for them and relay-send recorded 2,000 "status=sent"
deliveries, one per queue id."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish  # noqa: E402

N = int(os.environ.get('SMTP_SOURCE_MESSAGES', '2000'))
SESSIONS = 20
SENDER = 'sender@example.com'
RCPT = 'rcpt@example.org'


def main():
    # relay-listen counts a session until it reaps its relay-smtpd; under
    # ASan a process takes tens of ms to exit, so 20 clients that reconnect
    # at once per message can hold more than the default 50 per IP.  This
    # test is about delivery, not the cap (smtpd's tests cover that).
    with Sink() as sink, Instance(sink=sink,
                                  conf_overrides={'conn_per_ip': 200}) as inst:
        t0 = time.time()
        r = subprocess.run(
            ['/usr/sbin/smtp-source', '-s', str(SESSIONS), '-m', str(N), '-c',
             '-f', SENDER, '-t', RCPT, '127.0.0.1:%d' % inst.port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=400)
        t_sent = time.time() - t0
        check('smtp-source: exit 0 (every message accepted)',
              r.returncode == 0, r.stdout[-300:])
        # a refused batch will not come: then wait only for stragglers
        all_in = sink.wait_for(N, timeout=300 if r.returncode == 0 else 20)
        t_all = time.time() - t0
        check('sink: all %d messages arrive' % N, all_in,
              'got %d' % sink.count())
        time.sleep(3)  # a duplicate would show up now
        check('sink: exactly %d, none twice' % N, sink.count() == N,
              'got %d' % sink.count())
        rcpts = [r_ for r_, _ in sink.recipients()]
        check('sink: every message to %s' % RCPT,
              len(rcpts) == N and set(rcpts) == {RCPT},
              '%d recipients, %s' % (len(rcpts), sorted(set(rcpts))[:5]))
        inst.wait_queue_empty(60)
        log = inst.log()
        queued = set(re.findall(
            r'\]: info: ([A-Za-z0-9._-]+): from=<%s>' % re.escape(SENDER),
            log))
        check('log: %d distinct queue ids' % N, len(queued) == N,
              'found %d' % len(queued))
        sent = re.findall(
            r'relay-send\[\d+\]: info: ([A-Za-z0-9._-]+): to=<%s> .*status=sent' %
            re.escape(RCPT), log)
        check('log: %d deliveries, one per queue id' % N,
              len(sent) == N and set(sent) == queued,
              '%d sent lines, %d distinct' % (len(sent), len(set(sent))))
        check('queue: empty at the end', inst.queue_count() == 0,
              'queue/new holds %d' % inst.queue_count())
        print('# %d messages: accepted in %.1fs, all delivered in %.1fs' %
              (N, t_sent, t_all), flush=True)
    finish()


if __name__ == '__main__':
    main()
