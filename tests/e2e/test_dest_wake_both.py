#!/usr/bin/python3
"""test_dest_wake_both.py: a message with recipients at two destinations
that are both at their dest_concurrency limit.

A message waits in the line of one destination only (send_dest.c): the
first full one it met.  Its recipient at the second full destination
must not wait for the message's turn in the first line: when the
second destination has room again that recipient goes, as it went when
every waiting message was tried again each second.

dest.example (1 s a message) has a backlog of BACKLOG messages of
customer a; other.example (1 s a message) has FILL messages of customer
b, enough to fill its one connection's jobs.  Then a message of a to
both destinations: its recipient at other.example is delivered once
other.example's few messages are through (about FILL s), long before
its turn in dest.example's line (about BACKLOG s).  Prints PASS/FAIL
lines."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sink as sinkmod  # noqa: E402
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     no_sanitizer_report, queue_inject)
from test_fair_delivery import count, env, inject_many  # noqa: E402

BACKLOG, FILL, BOUND = 100, 8, 30

RULES = """\
customer a licenses=100000
customer b licenses=100000
domain a.example customer=a
domain b.example customer=b
route rcpt dest.example [127.0.0.1]:%d
route rcpt other.example [127.0.0.1]:%d
"""


def inject_env(inst, envelope):
    """One message with envelope; True when it went in."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(inst.path('run/queue.sock'))
    rep = queue_inject(s, b'Subject: both\r\n\r\nx\r\n', envelope)
    s.close()
    return bool(rep) and rep.get('status') == '0'


def both_full():
    with Sink() as sink, Sink() as other:
        for s in (sink, other):
            s.busy, s.peak, s.delay = 0, 0, 1.0
        with Instance(rules_text=RULES % (sink.port, other.port),
                      conf_overrides={'relayhost': '', 'remote_workers': 4,
                                      'dest_concurrency': 1}) as inst:
            n = inject_many(inst, 'a', BACKLOG, threads=4)
            check('a: %d messages for dest.example queued' % BACKLOG,
                  n == BACKLOG, '%d of %d' % (n, BACKLOG))
            fill = sum(inject_env(inst, env('b', 'fill%d@other.example' % i))
                       for i in range(FILL))
            check('b: %d messages for other.example queued' % FILL,
                  fill == FILL, '%d of %d' % (fill, FILL))
            time.sleep(0.5)  # both destinations at their limit now
            t0 = time.time()
            check('a: a message to both destinations queued',
                  inject_env(inst, env('a', 'botha@dest.example')[:-1] +
                             b'Tbotha@other.example\0\0'))
            got = other.wait_rcpts('botha', 1, BOUND) >= 1
            took = time.time() - t0
            print('# its other.example recipient after %.1fs; dest.example '
                  'took %d of %d meanwhile' % (took, count(sink, 'a'),
                                               BACKLOG))
            check('its recipient at the second full destination goes when '
                  'that one has room (within %d s), not at its turn in the '
                  'first one\'s line' % BOUND, got,
                  'not after %.1fs' % took)
            check('other.example: one connection at once', other.peak == 1,
                  'peak %d' % other.peak)
            no_sanitizer_report(inst, 'both full: no sanitizer report')


sinkmod._Handler = sinkmod.SlowHandler  # this process only
both_full()
finish()
