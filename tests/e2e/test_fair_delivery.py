#!/usr/bin/python3
"""test_fair_delivery.py: relay-send's fair delivery between customers.

Customer a queues 5,000 messages for a destination that answers slowly
(DELAY s in DATA) over a small concurrency (2 workers, dest_concurrency
2: at most 2 connections, each with up to 4 jobs queued on it); then
customer b sends 50 to the same destination.  The customers' ready heaps
take turns (send/send_ready.c), so every other slot that frees goes to
b: b's 50 need about 2 x 50 slots, i.e. 50 x DELAY s of the
destination's time (2.5 s), plus the 4 jobs a slot waits behind on its
connection (4 x DELAY).  The bound checked is BOUND s (slack for a
loaded machine and the sanitizers), and at that moment a's backlog must
still hold at least 1,000 messages, i.e. at 40 messages/s 25 s more at
least: b is done long before a's backlog clears.  With
fair_delivery = no (one heap in arrival order) b's mail waits behind
every message of a's still queued and the check fails
(RELAYBOX_FAIR=no runs it that way).

Also: relayctl queue customers shows the backlog per customer, and a
customer's concurrency= (relay.rules) holds its jobs to that many at
once while another customer's run on several workers."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sink as sinkmod  # noqa: E402
from harness import Instance, Sink, check, finish, queue_inject  # noqa: E402

A_MSGS, B_MSGS = 5000, 50
DELAY = 0.05
BOUND = 20
FAIR = os.environ.get('RELAYBOX_FAIR', 'yes')

RULES = """\
customer a licenses=1000
customer b licenses=1000
customer c licenses=1000 concurrency=1
customer d licenses=1000
domain a.example customer=a
domain b.example customer=b
"""


def env(customer, rcpt):
    return (b'Iip=127.0.0.1\0Ihelo=fair.test\0Icustomer=' +
            customer.encode() + b'\0Fsender@' + customer.encode() +
            b'.example\0T' + rcpt.encode() + b'\0\0')


def inject_many(inst, customer, n, threads=1):
    """n messages of customer, over threads connections; how many went in."""
    done = [0] * threads

    def run(t):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(inst.path('run/queue.sock'))
        for i in range(t, n, threads):
            rep = queue_inject(s, b'Subject: %s %d\r\n\r\nx\r\n' %
                               (customer.encode(), i),
                               env(customer, '%s%d@dest.example' %
                                   (customer, i)))
            done[t] += bool(rep) and rep.get('status') == '0'
        s.close()
    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done)


def count(sink, prefix):
    with sink.lock:
        return sum(1 for m in sink.messages for r in m.rcpts
                   if r.startswith(prefix))


def noisy_neighbour():
    with Sink() as sink:
        sink.busy, sink.peak, sink.delay = 0, 0, DELAY
        with Instance(sink=sink, rules_text=RULES, conf_overrides={
                'remote_workers': 2, 'dest_concurrency': 2,
                'fair_delivery': FAIR}) as inst:
            t0 = time.time()
            n = inject_many(inst, 'a', A_MSGS, threads=8)
            check('a: %d messages queued' % A_MSGS, n == A_MSGS,
                  '%d of %d' % (n, A_MSGS))
            print('# a queued in %.1fs, %d delivered meanwhile' %
                  (time.time() - t0, count(sink, 'a')))
            t1 = time.time()
            n = inject_many(inst, 'b', B_MSGS)
            check('b: %d messages queued' % B_MSGS, n == B_MSGS)
            q = inst.relayctl('queue', 'customers')
            lines = {ln.split()[0]: ln.split() for ln in
                     q.stdout.splitlines()[1:] if ln.strip()}
            check('relayctl queue customers: a backlog and b listed',
                  q.returncode == 0 and 'a' in lines and 'b' in lines and
                  int(lines['a'][1]) > 1000 and
                  int(lines['b'][1]) <= B_MSGS, q.stdout + q.stderr)
            while count(sink, 'b') < B_MSGS and time.time() - t1 < BOUND:
                time.sleep(0.05)
            took = time.time() - t1
            got_b, got_a = count(sink, 'b'), count(sink, 'a')
            print('# b: %d of %d delivered in %.1fs; a: %d of %d then' %
                  (got_b, B_MSGS, took, got_a, A_MSGS))
            check('b: all %d delivered within %d s while a has a backlog'
                  % (B_MSGS, BOUND), got_b == B_MSGS,
                  '%d of %d in %.1fs (a: %d delivered)' %
                  (got_b, B_MSGS, took, got_a))
            check('b: done long before a\'s backlog clears (>= 1000 left)',
                  A_MSGS - got_a >= 1000, 'a delivered %d' % got_a)
            check('a: still served meanwhile (not starved)',
                  got_a > 0, 'a delivered %d' % got_a)


def limit(customer, n=8):
    """Peak of jobs at once for n messages of customer on 4 workers."""
    with Sink() as sink:
        sink.busy, sink.peak, sink.delay = 0, 0, 0.3
        with Instance(sink=sink, rules_text=RULES, conf_overrides={
                'remote_workers': 4}) as inst:
            ok = inject_many(inst, customer, n) == n and sink.wait_for(n, 60)
            return ok, sink.peak


if __name__ == '__main__':  # (test_fair_wake.py takes its helpers)
    sinkmod._Handler = sinkmod.SlowHandler  # this process only
    noisy_neighbour()
    ok, peak = limit('c')
    check('concurrency=1: every message delivered, one at a time',
          ok and peak == 1, 'ok=%s peak=%d' % (ok, peak))
    ok, peak = limit('d')
    check('no concurrency=: the same messages on several workers at once',
          ok and peak >= 2, 'ok=%s peak=%d' % (ok, peak))
    finish()
