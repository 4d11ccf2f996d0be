#!/usr/bin/python3
"""test_fair_wake.py: a customer at its concurrency= limit.

concurrency=N caps the jobs of a customer's mail at once, it is no rate:
a slot that frees goes to its next message at once (send_worker_release
wakes the customer), not at the next whole second.  RATE_MSGS messages
of a customer with concurrency=2, the sink taking 0.05 s each: 2 at
once need about RATE_MSGS x 0.025 s, a rate of 2 a second would need
RATE_MSGS / 2 - 1 s at least; the check is half of that (a slow machine
has ample room, one second per slot has none).  With fair_delivery = yes
and no.

And no work per message while it waits: a customer at its limit is left
out of the pass (send_ready.c), its backlog untouched, instead of every
message of it being looked at again each second (the access(2) of its
queue file, its route lookups, back into the heap).  BACKLOG messages of
a customer with concurrency=1 and a sink that takes 1 s each: relay-send
is traced for WINDOW s, and must make fewer access(2) calls than half
the backlog (it made one per waiting message and second, ~WINDOW x
BACKLOG).  Meanwhile another customer's message still goes at once."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sink as sinkmod  # noqa: E402
from harness import Instance, Sink, check, finish, skip  # noqa: E402
from test_fair_delivery import count, inject_many  # noqa: E402

RULES = """\
customer c licenses=100000 concurrency=2
customer w licenses=100000 concurrency=1
customer d licenses=1000
domain c.example customer=c
domain w.example customer=w
domain d.example customer=d
"""
RATE_MSGS = 60
BACKLOG, WINDOW = 3000, 4


def timed(inst, sink, customer, n, label, timeout=60):
    """n messages of customer queued and all at sink: (ok, seconds)."""
    t0 = time.time()
    ok = inject_many(inst, customer, n) == n and sink.wait_for(n, timeout)
    took = time.time() - t0
    print('# %s: %d messages in %.1fs, peak %d' % (label, n, took, sink.peak))
    return ok, took


def rate(fair):
    """concurrency=2: RATE_MSGS delivered long before 2 a second would."""
    floor = RATE_MSGS / 2 - 1
    with Sink() as sink:
        sink.busy, sink.peak, sink.delay = 0, 0, 0.05
        with Instance(sink=sink, rules_text=RULES, conf_overrides={
                'remote_workers': 4, 'fair_delivery': fair}) as inst:
            ok, took = timed(inst, sink, 'c', RATE_MSGS,
                             'fair_delivery=%s' % fair)
            check('fair_delivery=%s: concurrency=2 delivers %d in under '
                  '%.1f s (a rate of 2/s needs %.0f s)'
                  % (fair, RATE_MSGS, floor / 2, floor),
                  ok and took < floor / 2, 'ok=%s in %.1fs' % (ok, took))
            check('fair_delivery=%s: still at most 2 at once' % fair,
                  sink.peak <= 2, 'peak %d' % sink.peak)


def access_calls(pid, seconds):
    """access(2) calls of pid within seconds (strace -c), or None."""
    try:
        p = subprocess.run(['timeout', '-s', 'INT', str(seconds), 'strace',
                            '-c', '-e', 'trace=access', '-p', str(pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=seconds + 30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?access$',
                  p.stderr, re.M)
    if m:
        return int(m.group(1))
    # no call at all: no table, only the attach and the detach
    return 0 if 'detached' in p.stderr and 'access' not in p.stderr else None


def left_alone(inst, sink, prefix, what):
    """BACKLOG messages (recipients prefix...) wait at what's limit:
    relay-send, traced for WINDOW s, makes fewer access(2) calls than
    half of them."""
    time.sleep(3)  # loaded by relay-send, first jobs under way
    pids = inst.pids(['relay-send'])
    calls = access_calls(pids[0], WINDOW) if pids else None
    print('# relay-send: %s access(2) calls in %d s, backlog %d, '
          '%d delivered' % (calls, WINDOW, BACKLOG, count(sink, prefix)))
    name = '%s at its limit: its backlog left alone' % what
    if calls is None:
        skip(name, 'strace could not trace relay-send')
    else:
        check(name + ' (< %d access(2) in %d s)' % (BACKLOG // 2, WINDOW),
              calls < BACKLOG // 2, '%d calls' % calls)


def idle_backlog():
    with Sink() as sink:
        sink.busy, sink.peak, sink.delay = 0, 0, 1.0
        with Instance(sink=sink, rules_text=RULES, conf_overrides={
                'remote_workers': 4}) as inst:
            n = inject_many(inst, 'w', BACKLOG, threads=8)
            check('w: %d messages queued' % BACKLOG, n == BACKLOG,
                  '%d of %d' % (n, BACKLOG))
            left_alone(inst, sink, 'w', 'a customer')
            check('w: one at a time', sink.peak == 1, 'peak %d' % sink.peak)
            t0 = time.time()
            check('d: queued behind w\'s backlog', inject_many(inst, 'd', 1)
                  == 1)
            got = sink.wait_rcpts('d', 1, 30) >= 1
            check('d: its message goes while w waits at its limit',
                  got, 'after %.1fs' % (time.time() - t0))


if __name__ == '__main__':  # (test_dest_wake.py takes its helpers)
    sinkmod._Handler = sinkmod.SlowHandler  # this process only
    rate('yes')
    rate('no')
    idle_backlog()
    finish()
