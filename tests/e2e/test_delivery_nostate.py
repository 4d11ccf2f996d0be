#!/usr/bin/python3
"""test_delivery_nostate.py: relay-send's completion without a state
file.  A message whose every recipient is delivered in one go needs no
state/<id>: the unlink of new/<id> is the record (queue/QUEUE.md,
relay-send's states).  With state/ made unwritable, such messages are
still delivered exactly once and leave the queue; a message with a
deferred recipient does get its state file (D and T lines), and its
delivered recipient is not sent again."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402
from test_queue_daemon import env, inject  # noqa: E402

N = 20


def inject_all(inst, envs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(inst.path('run/queue.sock'))
    ids = []
    for i, e in enumerate(envs):
        rep = inject(s, b'Subject: n%d\r\n\r\nx\r\n' % i, e)
        ok = rep and rep.get('status') == '0'
        check('inject %d' % i, ok, repr(rep))
        ids.append(rep.get('id') if ok else None)
    s.close()
    return ids


def all_delivered_without_state():
    with Sink() as sink, Instance(sink=sink) as inst:
        state = inst.path('queue/state')
        mode = os.stat(state).st_mode & 0o7777
        os.chmod(state, 0o500)   # relay-send (not root) cannot create
        try:
            envs = [env('a@example.com', 'r%d@example.org' % i)
                    for i in range(N)]
            envs.append(env('a@example.com', 'x@example.org',
                            'y@example.org', 'z@example.org'))
            inject_all(inst, envs)
            ok = sink.wait_for(N + 1, 60) and inst.wait_queue_empty(20)
            check('no state/: all delivered, queue empty', ok,
                  inst.log_tail())
            time.sleep(1)        # a duplicate would show by now
            check('no state/: each message exactly once',
                  sink.count() == N + 1, '%d messages' % sink.count())
            log = inst.log()
            check('no state/: no state write was tried',
                  'state write failed' not in log, inst.log_tail())
            check('no state/: no state file', os.listdir(state) == [])
        finally:
            os.chmod(state, mode)


def deferred_recipient_keeps_state():
    codes = {'later@example.org': 451}
    with Sink(codes=codes) as sink, Instance(sink=sink) as inst:
        ids = inject_all(inst, [env('a@example.com', 'now@example.org',
                                    'later@example.org')])
        path = inst.path('queue/state/%s' % ids[0]) if ids[0] else ''
        ok = wait_until(lambda: path and os.path.exists(path), 30)
        check('deferred: state file written', ok, inst.log_tail())
        lines = open(path).read().splitlines() if ok else []
        check('deferred: D line for the delivered recipient',
              any(ln.startswith('0 D ') for ln in lines), repr(lines))
        check('deferred: T line for the deferred one',
              any(ln.startswith('1 T ') for ln in lines), repr(lines))
        check('deferred: message still queued',
              inst.queue_count('new') == 1)
        sink.wait_for(1, 10)
        rcpts = [r for r, m in sink.recipients()]
        check('deferred: delivered recipient sent once',
              rcpts.count('now@example.org') == 1, repr(rcpts))


all_delivered_without_state()
deferred_recipient_keeps_state()
finish()
