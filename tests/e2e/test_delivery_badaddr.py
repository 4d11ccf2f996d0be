#!/usr/bin/python3
"""test_delivery_badaddr.py: a recipient in the queue that no part
accepts as a mailbox any more (x@bad\\xff.example: queued before
relay-smtpd refused addresses that are not UTF-8) bounces at once with
553 5.1.3 from relay-send, instead of a job relay-remote refuses whole
(it dropped relay-send's connection at every retry until the message
expired).  The file is made by holding a queued message, writing the
byte into its recipient, and releasing it.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402
from test_delivery import inject  # noqa: E402

GOOD = b'rcpt=x@bad0.example\n'
BAD = b'rcpt=x@bad\xff.example\n'


def bounced(inst):
    return any('to=<x@bad' in line and 'status=bounced' in line and
               '5.1.3' in line for line in inst.log().splitlines())


def main():
    with Sink(codes={'x@bad0.example': 451}) as sink, \
            Instance(sink=sink) as inst:
        rc, err = inject(inst, 'a@example.com',
                         ['x@bad0.example', 'ok@example.org'],
                         b'Subject: t\r\n\r\nx\r\n')
        check('badaddr: queued', rc == 0, err)
        check('badaddr: the other recipient delivered, this one deferred',
              wait_until(lambda: len(sink.messages) == 1 and
                         sink.attempts.get('x@bad0.example', 0) >= 1, 30),
              inst.log_tail())
        qid = os.listdir(inst.path('queue/new'))[0]
        p = inst.relayctl('queue', 'hold', qid)
        check('badaddr: held', p.returncode == 0, p.stdout + p.stderr)
        path = inst.path('queue/hold/' + qid)
        with open(path, 'r+b') as f:
            data = f.read()
            f.seek(data.index(GOOD))
            f.write(BAD)
        p = inst.relayctl('queue', 'release', qid)
        check('badaddr: released', p.returncode == 0, p.stdout + p.stderr)
        check('badaddr: bounced 5.1.3 by relay-send',
              wait_until(lambda: bounced(inst), 30), inst.log_tail())
        check('badaddr: relay-remote never dropped relay-send',
              'dropping relay-send' not in inst.log(), inst.log_tail())
        check('badaddr: the message leaves the queue',
              wait_until(lambda: not os.path.exists(
                  inst.path('queue/new/' + qid)), 30), inst.log_tail())
        check('badaddr: the sender gets the bounce, saying 5.1.3',
              wait_until(lambda: len(sink.messages) == 2, 30) and
              sink.messages[1].rcpts == ['a@example.com'] and
              b'Status: 5.1.3' in sink.messages[1].data, repr(sink.messages))
        check('badaddr: a refusal, not an expiry',
              len(sink.messages) == 2 and
              b'expired' not in sink.messages[1].data, repr(sink.messages))


if __name__ == '__main__':
    main()
    finish()
