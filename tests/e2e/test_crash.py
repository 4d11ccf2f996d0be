#!/usr/bin/python3
"""test_crash.py: kill -9 during delivery loses nothing.
  - relay-send killed after one recipient of a message was delivered and
    the other deferred: relay-master restarts it, state/ is replayed, the
    delivered recipient is not sent again, the deferred one arrives;
  - relay-send and relay-remote killed repeatedly while 40 messages are
    being delivered: every message arrives (a duplicate is allowed, a
    loss is not: duplicates are bounded by the jobs in flight at each
    kill) and the queue empties;
  - relay-remote's worker killed while its first job waits for the
    server's 250 (the sink takes 3 s in DATA), with two more jobs queued
    behind it on its connection: the first is deferred (retry_min
    later), the two that never started are delivered at once by another
    worker, each exactly once."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sink as sinkmod  # noqa: E402
from harness import Instance, Sink, check, finish  # noqa: E402
from test_delivery import inject, wait  # noqa: E402


def count(sink, rcpt):
    return len([m for m in sink.messages if rcpt in m.rcpts])


def kill(inst, name):
    st = inst.status().get(name)
    if not st or st[0] <= 1:  # not running right now (being restarted)
        return None
    try:
        os.kill(st[0], signal.SIGKILL)
    except ProcessLookupError:
        return None
    return st[0]


def wait_restart(inst, name, old, timeout=20):
    return wait(lambda: inst.status().get(name, (old,))[0] != old, timeout)


def test_state_replay():
    with Sink(codes={'slow@example.org': [451, 250]}) as sink, \
            Instance(sink=sink, conf_overrides={'retry_min': 4,
                                                'retry_max': 4}) as inst:
        rc, err = inject(inst, 'a@example.com',
                         ['good@example.org', 'slow@example.org'],
                         b'Subject: replay\r\n\r\nx\r\n')
        check('replay: injected', rc == 0, err)
        check('replay: first attempt done',
              inst.wait_log(r'relay-send.*to=<slow@example.org>.*deferred',
                            20), inst.log_tail())
        ids = os.listdir(inst.path('queue/new'))
        state = open(inst.path('queue/state/' + ids[0])).read() if ids else ''
        check('replay: state has D and T lines',
              ' D ' in state and ' T ' in state, state)
        old = kill(inst, 'relay-send')
        check('replay: relay-send killed', old is not None)
        check('replay: relay-send restarted',
              wait_restart(inst, 'relay-send', old), inst.log_tail())
        check('replay: deferred recipient delivered after restart',
              wait(lambda: count(sink, 'slow@example.org') == 1, 30),
              inst.log_tail())
        check('replay: queue empty', inst.wait_queue_empty(20))
        check('replay: delivered recipient not sent again',
              count(sink, 'good@example.org') == 1,
              repr(sink.messages))


def remote_worker(inst):
    """The pid of relay-remote's one worker (not the listener)."""
    listener = inst.status().get('relay-remote', (0,))[0]
    pids = [p for p in inst.pids(['relay-remote']) if p != listener]
    return pids[0] if len(pids) == 1 else None


def test_worker_lost():
    plain = sinkmod._Handler
    sinkmod._Handler = sinkmod.SlowHandler  # DATA takes sink.delay s
    try:
        with Sink() as sink, Instance(sink=sink, conf_overrides={
                'remote_workers': 1, 'retry_min': 300,
                'retry_max': 300}) as inst:
            sink.busy, sink.peak, sink.delay = 0, 0, 3.0
            for i in range(3):
                rc, err = inject(inst, 'a@example.com',
                                 ['q%d@example.org' % i],
                                 b'Subject: q%d\r\n\r\nx\r\n' % i)
                check('worker lost: q%d injected' % i, rc == 0, err)
            # q0 in the server's DATA, q1 and q2 queued behind it (a
            # second for relay-send to see them, well within the 3 s)
            check('worker lost: the first job waits for its 250',
                  wait(lambda: sink.busy == 1, 20), inst.log_tail())
            time.sleep(1.0)
            pid = remote_worker(inst)
            check('worker lost: one worker', pid is not None,
                  repr(inst.pids(['relay-remote'])))
            if pid:
                os.kill(pid, signal.SIGKILL)
            ok = wait(lambda: count(sink, 'q1@example.org') and
                      count(sink, 'q2@example.org'), 20)
            check('worker lost: the jobs that never started are '
                  'delivered at once', ok, inst.log_tail())
            time.sleep(3.5)      # no retry of q0 yet (retry_min)
            # q0: the sink drops a transaction whose client went away
            # in DATA (0), or keeps it (1); never twice before its retry
            got = [count(sink, 'q%d@example.org' % i) for i in range(3)]
            check('worker lost: each delivered once at most',
                  got[0] <= 1 and got[1:] == [1, 1], repr(got))
            lost = [x for x in inst.log().splitlines()
                    if 'relay-send' in x and 'went away' in x]
            check('worker lost: only the first job was deferred',
                  len(lost) == 1 and 'to=<q0@example.org>' in lost[0],
                  '\n'.join(lost) + '\n' + inst.log_tail())
    finally:
        sinkmod._Handler = plain


def test_kill_storm():
    n = 40
    killed = {'relay-send': 0, 'relay-remote': 0}
    with Sink() as sink, Instance(sink=sink) as inst:
        for i in range(n):
            rc, err = inject(inst, 'a@example.com', ['r%d@example.org' % i],
                             b'Subject: storm %d\r\n\r\nbody\r\n' % i)
            if rc != 0:
                check('storm: injection %d' % i, False, err)
            for name, when in (('relay-send', 5), ('relay-remote', 8)):
                if i % 10 == when and kill(inst, name):
                    killed[name] += 1
        deadline = time.time() + 90
        while time.time() < deadline:
            got = {r for m in sink.messages for r in m.rcpts}
            if len(got) >= n and inst.queue_count() == 0:
                break
            time.sleep(0.3)
        got = [r for m in sink.messages for r in m.rcpts]
        missing = [i for i in range(n) if 'r%d@example.org' % i not in got]
        check('storm: every message arrived', not missing,
              'missing %r\n%s' % (missing, inst.log_tail()))
        check('storm: queue empty', inst.wait_queue_empty(30),
              inst.log_tail())
        log = inst.log()
        check('storm: relay-send and relay-remote were really killed',
              killed['relay-send'] >= 1 and killed['relay-remote'] >= 1 and
              log.count('signal 9') >= 2, '%r\n%s' % (killed, inst.log_tail()))
        # a kill can only repeat the jobs in flight at that moment: at most
        # remote_workers (8) per kill
        dups = len(got) - len(set(got))
        check('storm: duplicates only from jobs in flight at a kill',
              dups <= 8 * sum(killed.values()),
              '%d duplicates, %r kills' % (dups, killed))
        print('# %d duplicates after %r kills' % (dups, killed))


test_state_replay()
test_kill_storm()
test_worker_lost()
finish()
