#!/usr/bin/python3
"""test_delivery_route.py: relay-send's route lookup through makecdb's
rules.cdb, without a relayhost: route rcpt (exact and .parent), route
sender, route default, each to its own receiving server; and one job per
destination (two recipients of one message at one destination arrive in
one transaction).  Also: a bounce that itself fails goes to postmaster."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEFAULT_RULES, Instance, Sink, check, finish  # noqa: E402
from test_delivery import inject, wait  # noqa: E402


def rcpts(sink):
    return sorted(r for m in sink.messages for r in m.rcpts)


with Sink() as exact, Sink() as parent, Sink() as sender, \
        Sink(codes={'bad@default.example': 550}) as default:
    rules = DEFAULT_RULES + (
        'route rcpt exact.example [127.0.0.1]:%d\n'
        'route rcpt .parent.example [127.0.0.1]:%d\n'
        'route sender tenant.example [127.0.0.1]:%d\n'
        'route default [127.0.0.1]:%d\n' % (exact.port, parent.port,
                                             sender.port, default.port))
    with Instance(rules_text=rules) as inst:
        rc, err = inject(inst, 'a@example.com',
                         ['x@exact.example', 'y@exact.example',
                          'z@sub.parent.example', 'w@other.example'],
                         b'Subject: routes\r\n\r\nx\r\n')
        check('route: injected', rc == 0, err)
        rc, err = inject(inst, 'b@tenant.example', ['v@other.example'],
                         b'Subject: sender route\r\n\r\nx\r\n')
        check('route: injected (sender route)', rc == 0, err)
        check('route: all delivered', inst.wait_queue_empty(30),
              inst.log_tail())
        check('route rcpt exact', rcpts(exact) ==
              ['x@exact.example', 'y@exact.example'], repr(rcpts(exact)))
        check('route: one transaction per destination',
              len(exact.messages) == 1, repr(exact.messages))
        check('route rcpt .parent', rcpts(parent) == ['z@sub.parent.example'],
              repr(rcpts(parent)))
        check('route sender', rcpts(sender) == ['v@other.example'],
              repr(rcpts(sender)))
        check('route default', rcpts(default) == ['w@other.example'],
              repr(rcpts(default)))

        # a first bounce (null sender, dsn=bounce) that fails: postmaster
        n0 = len(default.messages)
        rc, err = inject(inst, '', ['bad@default.example'],
                         b'Subject: a bounce\r\n\r\nx\r\n', {'dsn': 'bounce'})
        check('double bounce: injected', rc == 0, err)
        check('double bounce: goes to postmaster of the relay',
              wait(lambda: any(m.rcpts == ['postmaster@relaybox.test'] and
                               m.mail_from in ('', '<>')
                               for m in default.messages[n0:]), 30),
              inst.log_tail())
finish()
