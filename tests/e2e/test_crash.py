#!/usr/bin/python3
"""test_crash.py: kill -9 during delivery loses nothing.
  - relay-send killed after one recipient of a message was delivered and
    the other deferred: relay-master restarts it, state/ is replayed, the
    delivered recipient is not sent again, the deferred one arrives;
  - relay-send and relay-remote killed repeatedly while 40 messages are
    being delivered: every message arrives (a duplicate is allowed, a
    loss is not: duplicates are bounded by the jobs in flight at each
    kill) and the queue empties."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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
finish()
