#!/usr/bin/python3
"""test_queue_ctl.py: relayctl queue list/show/hold/release/delete/flush
against a running instance.  A held message is not delivered even when
flushed; a released one is picked up again and delivered on flush; a
deleted one leaves new/ and state/ and is never delivered."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish  # noqa: E402
from test_delivery import inject, wait  # noqa: E402


def delivered(sink, rcpt):
    return len([m for m in sink.messages if rcpt in m.rcpts])


with Sink(codes={'slow@example.org': [451, 250],
                 'stuck@example.org': 451}) as sink, \
        Instance(sink=sink, conf_overrides={'retry_min': 3600,
                                            'retry_max': 3600}) as inst:
    rc, err = inject(inst, 'a@example.com', ['slow@example.org'],
                     b'Subject: slow\r\n\r\nx\r\n')
    check('inject slow', rc == 0, err)
    rc, err = inject(inst, 'b@example.com', ['stuck@example.org'],
                     b'Subject: stuck\r\n\r\ny\r\n')
    check('inject stuck', rc == 0, err)
    check('both deferred once',
          inst.wait_log(r'relay-send.*to=<slow@example.org>.*deferred', 30)
          and inst.wait_log(r'relay-send.*to=<stuck@example.org>.*deferred',
                            30), inst.log_tail())
    ids = sorted(os.listdir(inst.path('queue/new')))
    check('two messages in new/', len(ids) == 2, repr(ids))
    slow, stuck = ids[0], ids[1]

    r = inst.relayctl('queue', 'list')
    check('list: exit 0', r.returncode == 0, r.stderr)
    line = [x for x in r.stdout.splitlines() if x.startswith(slow)]
    check('list: id, sender, pending, next, last error',
          line and '<a@example.com>' in line[0] and ' 1/1 in ' in line[0]
          and '4.' in line[0], r.stdout)
    check('list: pending recipient shown', '    <slow@example.org>' in r.stdout,
          r.stdout)
    r = inst.relayctl('queue', 'show', slow)
    check('show: envelope, state, headers',
          r.returncode == 0 and 'from: <a@example.com>' in r.stdout and
          'rcpt 0: <slow@example.org> T attempts=1 last=451' in r.stdout and
          'Subject: slow' in r.stdout, r.stdout + r.stderr)
    r = inst.relayctl('queue', 'show', 'NOSUCHID')
    check('show: unknown id exits 100', r.returncode == 100)

    r = inst.relayctl('queue', 'hold', '--to', 'slow@*')
    check('hold --to: exit 0', r.returncode == 0, r.stdout + r.stderr)
    check('hold: moved to hold/',
          os.listdir(inst.path('queue/hold')) == [slow] and
          slow not in os.listdir(inst.path('queue/new')))
    r = inst.relayctl('queue', 'list')
    check('list: held shown', any(x.startswith(slow) and 'held' in x
                                  for x in r.stdout.splitlines()), r.stdout)
    r = inst.relayctl('queue', 'flush')
    check('flush: exit 0', r.returncode == 0, r.stderr)
    check('flush: relay-send retries',
          inst.wait_log(r'flush: retrying', 10), inst.log_tail())
    time.sleep(2)
    check('held message not delivered on flush',
          delivered(sink, 'slow@example.org') == 0)
    check('the other one was retried (deferred again)',
          wait(lambda: len(re.findall(r'relay-send.*to=<stuck@example.org>',
                                      inst.log())) >= 2, 10),
          inst.log_tail())

    r = inst.relayctl('queue', 'release', slow)
    check('release: exit 0', r.returncode == 0, r.stdout + r.stderr)
    check('release: back in new/', slow in os.listdir(inst.path('queue/new')))
    time.sleep(1)
    inst.relayctl('queue', 'flush')
    check('released message delivered after flush',
          wait(lambda: delivered(sink, 'slow@example.org') == 1, 20),
          inst.log_tail())

    r = inst.relayctl('queue', 'delete', stuck)
    check('delete: exit 0', r.returncode == 0, r.stdout + r.stderr)
    check('queue empty after delete and delivery',
          inst.wait_queue_empty(20) and
          not os.path.exists(inst.path('queue/state/' + stuck)),
          repr(os.listdir(inst.path('queue/new'))))
    n = len(inst.log().split('to=<stuck@example.org>'))
    inst.relayctl('queue', 'flush')
    time.sleep(2)
    check('deleted message not tried again',
          len(inst.log().split('to=<stuck@example.org>')) == n)
    r = inst.relayctl('queue', 'hold', 'NOSUCHID')
    check('hold of nothing exits 100', r.returncode == 100)
    check('delivered exactly once', delivered(sink, 'slow@example.org') == 1)
finish()
