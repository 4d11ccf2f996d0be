#!/usr/bin/python3
"""test_delivery_reload.py: relay-send notices a new rules.cdb and a
touched queue/flush by their inotify events, not by looking at them on
every wake-up; this checks that nothing is lost by that.  A route changed
with makecdb applies to the very next message injected after makecdb
returns (its event comes before the message's); a rules.cdb that goes
away and comes back is used again; relayctl queue flush retries a
deferred recipient at once (retry_min is long)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEFAULT_RULES, Instance, Sink, check, finish  # noqa: E402
from test_delivery import inject, wait  # noqa: E402

ROUNDS = 5


def rules_to(port):
    return DEFAULT_RULES + 'route default [127.0.0.1]:%d\n' % port


def makecdb(inst, text):
    with open(inst.path('relay.rules'), 'w') as f:
        f.write(text)
    r = subprocess.run([os.path.join(BIN, 'makecdb'), '-d', inst.dir],
                       capture_output=True, text=True, timeout=30)
    return r.returncode == 0, r.stderr


def send(inst, tag):
    return inject(inst, 'a@example.com', ['%s@other.example' % tag],
                  b'Subject: %s\r\n\r\nx\r\n' % tag.encode())


def got(sink, tag):
    return any('%s@other.example' % tag in m.rcpts for m in sink.messages)


with Sink() as one, Sink() as two, \
        Sink(codes={'later@other.example': 451}) as flaky:
    with Instance(rules_text=rules_to(one.port),
                  conf_overrides={'retry_min': 600,
                                  'retry_max': 600}) as inst:
        rc, err = send(inst, 'first')
        check('reload: first injected', rc == 0, err)
        check('reload: first goes to the first route',
              wait(lambda: got(one, 'first'), 30), inst.log_tail())
        # switch back and forth: each message right after makecdb
        ok = True
        for i in range(ROUNDS):
            sink = two if i % 2 == 0 else one
            done, err = makecdb(inst, rules_to(sink.port))
            rc, err2 = send(inst, 'r%d' % i)
            ok &= done and rc == 0 and wait(lambda: got(sink, 'r%d' % i), 30)
            if not ok:
                check('reload: round %d' % i, False,
                      err + err2 + inst.log_tail())
                break
        check('reload: each message follows the rules compiled before it',
              ok)
        check('reload: nothing went the old way',
              not any(got(one, 'r%d' % i) for i in range(0, ROUNDS, 2)) and
              not any(got(two, 'r%d' % i) for i in range(1, ROUNDS, 2)))

        # rules.cdb removed, then compiled again (to the second sink)
        os.unlink(inst.path('rules.cdb'))
        done, err = makecdb(inst, rules_to(two.port))
        rc, err2 = send(inst, 'back')
        check('reload: a rules.cdb that came back is used',
              done and rc == 0 and wait(lambda: got(two, 'back'), 30),
              err + err2 + inst.log_tail())

        # flush: a deferred recipient (retry in 600 s) is retried now
        done, err = makecdb(inst, rules_to(flaky.port))
        rc, err2 = inject(inst, 'a@example.com', ['later@other.example'],
                          b'Subject: later\r\n\r\nx\r\n')
        check('flush: deferred first',
              done and rc == 0 and
              inst.wait_log(r'to=<later@other\.example>.*status=deferred',
                            30), err + err2 + inst.log_tail())
        before = inst.log().count('status=deferred')
        r = inst.relayctl('queue', 'flush')
        check('flush: relayctl exit 0', r.returncode == 0, r.stderr)
        check('flush: relay-send retries at once',
              inst.wait_log(r'flush: retrying', 10) and
              wait(lambda: inst.log().count('status=deferred') > before, 10),
              inst.log_tail())
finish()
