#!/usr/bin/python3
"""test_dest_wake.py: a destination at its dest_concurrency limit.

dest_concurrency caps the workers busy with one destination (each with
up to 4 jobs queued on its connection), it is no rate: a message that
finds its destination full waits in that destination's line and a job
of the destination that ends takes the next one at once (send_dest.c),
not at the next whole second.  RATE_MSGS messages to one destination
with dest_concurrency = 1, the sink taking DELAY s each: one connection
needs about RATE_MSGS x DELAY s; one pass a second that fills the
destination's 4 jobs would need RATE_MSGS / 4 - 1 s at least; the check
is half of that.  With fair_delivery = yes and no, and never more than
one connection at once.

And no work per message while it waits: BACKLOG messages for a
destination at its limit (the sink taking 1 s each) stay in its line,
untouched, instead of each being looked at again every second (the
access(2) of its queue file, its route lookups, back into the heap):
relay-send is traced for WINDOW s and must make fewer access(2) calls
than half the backlog.  Meanwhile mail for another destination, of the
same customer and of another, still goes at once, and so does the
recipient at another destination of a message whose other recipient
waits in the line (it waited with it, retried every second).

And fair delivery holds in a destination's line: customer a's backlog
of FAIR_A messages waits for the destination, then customer b sends
FAIR_B to it; the line takes its customers in turn, so b's are through
within FAIR_BOUND s while most of a's still wait."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sink as sinkmod  # noqa: E402
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     no_sanitizer_report, queue_inject)
from test_fair_delivery import count, env, inject_many  # noqa: E402
from test_fair_wake import BACKLOG, left_alone, timed  # noqa: E402

RATE_MSGS, DELAY = 120, 0.02
FAIR_A, FAIR_B, FAIR_BOUND = 2000, 20, 6

RULES = """\
customer a licenses=100000
customer b licenses=100000
domain a.example customer=a
domain b.example customer=b
route rcpt dest.example [127.0.0.1]:%d
route rcpt other.example [127.0.0.1]:%d
"""


def conf(**more):
    c = {'relayhost': '', 'remote_workers': 4, 'dest_concurrency': 1}
    c.update(more)
    return c


def inject_env(inst, envelope):
    """One message with envelope; True when it went in."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(inst.path('run/queue.sock'))
    rep = queue_inject(s, b'Subject: other\r\n\r\nx\r\n', envelope)
    s.close()
    return bool(rep) and rep.get('status') == '0'


def both(customer):
    """customer's envelope for one recipient at dest.example (first)
    and one at other.example."""
    return env(customer, 'both%s@dest.example' % customer)[:-1] + \
        b'Tboth%s@other.example\0\0' % customer.encode()


def rate(fair):
    """dest_concurrency=1: RATE_MSGS long before a pass a second would."""
    floor = RATE_MSGS / 4 - 1
    with Sink() as sink, Sink() as other:
        sink.busy, sink.peak, sink.delay = 0, 0, DELAY
        other.busy, other.peak, other.delay = 0, 0, 0
        with Instance(rules_text=RULES % (sink.port, other.port),
                      conf_overrides=conf(fair_delivery=fair)) as inst:
            ok, took = timed(inst, sink, 'a', RATE_MSGS,
                             'fair_delivery=%s' % fair, timeout=90)
            check('fair_delivery=%s: dest_concurrency=1 delivers %d in '
                  'under %.1f s (a pass a second needs %.0f s)'
                  % (fair, RATE_MSGS, floor / 2, floor),
                  ok and took < floor / 2, 'ok=%s in %.1fs' % (ok, took))
            check('fair_delivery=%s: one connection at once' % fair,
                  sink.peak == 1, 'peak %d' % sink.peak)
            no_sanitizer_report(inst, 'fair_delivery=%s: no sanitizer '
                                'report' % fair)


def waiting(inst, sink, other):
    """The backlog waits in its line: traced, then other mail goes."""
    left_alone(inst, sink, 'a', 'a destination')
    for cust in ('a', 'b'):
        t0 = time.time()
        check('%s: a message to another destination queued' % cust,
              inject_env(inst, env(cust, 'o%s@other.example' % cust)))
        got = other.wait_rcpts('o' + cust, 1, 30) >= 1
        check('%s: it goes while the backlog waits for its destination'
              % cust, got, 'after %.1fs' % (time.time() - t0))
    t0 = time.time()
    check('a: a message to both destinations queued',
          inject_env(inst, both('a')))
    got = other.wait_rcpts('botha', 1, 30) >= 1
    check('a: its recipient at the other destination goes at once, the '
          'one at the full destination waits in its line', got and
          count(sink, 'botha') == 0, 'after %.1fs' % (time.time() - t0))


def idle_backlog():
    with Sink() as sink, Sink() as other:
        sink.busy, sink.peak, sink.delay = 0, 0, 1.0
        other.busy, other.peak, other.delay = 0, 0, 0
        with Instance(rules_text=RULES % (sink.port, other.port),
                      conf_overrides=conf()) as inst:
            n = inject_many(inst, 'a', BACKLOG, threads=8)
            check('a: %d messages queued' % BACKLOG, n == BACKLOG,
                  '%d of %d' % (n, BACKLOG))
            waiting(inst, sink, other)
            check('dest.example: one connection at once', sink.peak == 1,
                  'peak %d' % sink.peak)
            no_sanitizer_report(inst, 'backlog: no sanitizer report')


def churn(inst, sink):
    """Messages leave the line from anywhere (held, deleted) and a flush
    makes all of them due: relay-send goes on delivering the rest."""
    pid = inst.pids(['relay-send'])
    waiting = sorted(os.listdir(inst.path('queue/new')))
    gone = 0
    for qid in waiting[::40][:20]:
        gone += inst.relayctl('queue', 'hold', qid).returncode == 0
    for qid in waiting[20::40][:20]:
        gone += inst.relayctl('queue', 'delete', qid).returncode == 0
    check('churn: waiting messages held and deleted', gone >= 30,
          '%d of 40' % gone)
    check('churn: flush', inst.relayctl('queue', 'flush').returncode == 0)
    before = count(sink, 'a')
    got = sink.wait_rcpts('a', before + 20, 30)
    check('churn: the line goes on (20 more delivered)', got >= before + 20,
          '%d then %d' % (before, got))
    check('churn: the same relay-send', inst.pids(['relay-send']) == pid,
          '%s then %s' % (pid, inst.pids(['relay-send'])))


def fair_line():
    """b's few messages for a's destination take turns with a's backlog."""
    with Sink() as sink, Sink() as other:
        sink.busy, sink.peak, sink.delay = 0, 0, DELAY
        with Instance(rules_text=RULES % (sink.port, other.port),
                      conf_overrides=conf()) as inst:
            n = inject_many(inst, 'a', FAIR_A, threads=8)
            check('a: %d messages queued' % FAIR_A, n == FAIR_A)
            t0 = time.time()
            check('b: %d messages queued' % FAIR_B,
                  inject_many(inst, 'b', FAIR_B) == FAIR_B)
            got = sink.wait_rcpts('b', FAIR_B, FAIR_BOUND)
            took, got_a = time.time() - t0, count(sink, 'a')
            print('# b: %d of %d in %.1fs; a: %d of %d then'
                  % (got, FAIR_B, took, got_a, FAIR_A))
            check('b: all %d through the destination\'s line within %d s'
                  % (FAIR_B, FAIR_BOUND), got == FAIR_B,
                  '%d in %.1fs' % (got, took))
            check('b: before a\'s backlog (>= %d of a left)' % (FAIR_A // 2),
                  FAIR_A - got_a >= FAIR_A // 2, 'a delivered %d' % got_a)
            churn(inst, sink)
            no_sanitizer_report(inst, 'fair line: no sanitizer report')


sinkmod._Handler = sinkmod.SlowHandler  # this process only
rate('yes')
rate('no')
idle_backlog()
fair_line()
finish()
