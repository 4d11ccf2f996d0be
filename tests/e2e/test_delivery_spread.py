#!/usr/bin/python3
"""test_delivery_spread.py: relay-send queues a job behind a busy worker
instead of an idle one only for a destination that answers fast (its
last job took under 50 ms).  A slow destination (0.3 s per DATA here)
keeps getting idle workers: a burst of messages, injected back to back
after a first round taught relay-send how slow it is, is delivered by
several workers at once (the sink counts the transactions in DATA at the
same time), not one after another by one worker.  A fast destination
still gets every message, exactly once."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sink as sinkmod  # noqa: E402
from harness import Instance, Sink, check, finish  # noqa: E402
from test_queue_daemon import env, inject  # noqa: E402

WORKERS = 4
DELAY = 0.3


def burst(inst, tag, n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(inst.path('run/queue.sock'))
    ok = True
    for i in range(n):
        rep = inject(s, b'Subject: %s %d\r\n\r\nx\r\n' % (tag.encode(), i),
                     env('a@example.com', '%s%d@example.org' % (tag, i)))
        ok &= bool(rep) and rep.get('status') == '0'
    s.close()
    return ok


def run(delay, n):
    with Sink() as sink:
        sink.busy, sink.peak, sink.delay = 0, 0, delay
        with Instance(sink=sink, conf_overrides={
                'remote_workers': WORKERS}) as inst:
            # round 1: every worker learns the destination's speed
            ok = burst(inst, 'a', WORKERS) and sink.wait_for(WORKERS, 30)
            sink.peak = 0
            t0 = time.time()
            ok = ok and burst(inst, 'b', n) and sink.wait_for(WORKERS + n, 60)
            took = time.time() - t0
            ok = ok and inst.wait_queue_empty(20)
            rcpts = sorted(r for m in sink.messages for r in m.rcpts)
            return ok, sink.peak, took, rcpts, inst.log_tail()


sinkmod._Handler = sinkmod.SlowHandler  # this process only
ok, peak, took, rcpts, log = run(DELAY, WORKERS)
check('slow destination: all delivered', ok, log)
check('slow destination: the burst runs on several workers at once',
      peak >= WORKERS - 1, 'peak %d of %d, %.1fs' % (peak, WORKERS, took))
print('# slow destination: %d at once, %d messages in %.1fs' %
      (peak, WORKERS, took))
ok, peak, took, rcpts, log = run(0, 30)
want = sorted(['a%d@example.org' % i for i in range(WORKERS)] +
              ['b%d@example.org' % i for i in range(30)])
check('fast destination: all delivered, each once', ok and rcpts == want,
      '%r\n%s' % (rcpts, log))
finish()
