#!/usr/bin/python3
"""test_delivery_rcptlimit.py: a next hop that takes only a few recipients
per transaction.  RFC 5321 4.5.3.1.10: "too many recipients" is 452, and
RFC 821's 552 for it is to be taken as temporary; relay-send tries the
refused recipients again at once in a job of their own (relay-remote's
cached connection carries it), not after retry_min (300 s here), and
never into a bounce.  Two next hops: one answering 552 5.5.3 past 2
recipients, one 452 4.5.3 past 3; each gets all 7 recipients of a
message in 2-3 transactions on one connection, within seconds, and the
sender gets no notice."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish  # noqa: E402
import sink as sinkmod  # noqa: E402
from test_delivery import inject, wait  # noqa: E402


class LimitHandler(sinkmod._Handler):
    """RCPT past sink.limit in one transaction: sink.refusal."""

    async def handle_RCPT(self, server, session, envelope, address, options):
        if len(envelope.rcpt_tos) >= self.sink.limit:
            return self.sink.refusal
        return await super().handle_RCPT(server, session, envelope,
                                         address, options)


class LimitSink(Sink):
    handler_class = LimitHandler

    def __init__(self, limit, refusal):
        super().__init__()
        self.limit = limit
        self.refusal = refusal


RCPTS = ['r%d@example.org' % i for i in range(7)]

for limit, refusal in ((2, '552 5.5.3 Too many recipients'),
                       (3, '452 4.5.3 Error: too many recipients')):
    name = refusal.split()[0]
    with LimitSink(limit, refusal) as hop, Instance(
            sink=hop, conf_overrides={'retry_min': 300,
                                      'retry_max': 600}) as inst:
        rc, err = inject(inst, 'a@example.com', RCPTS,
                         b'Subject: many\r\n\r\nhello\r\n')
        check('%s: injected' % name, rc == 0, err)
        check('%s: every recipient delivered at once' % name,
              inst.wait_queue_empty(30), inst.log_tail())
        got = sorted(r for m in hop.messages for r in m.rcpts)
        sizes = [len(m.rcpts) for m in hop.messages]
        check('%s: each recipient once, at most %d a transaction' % (
              name, limit), got == RCPTS and max(sizes) <= limit and
              len(sizes) == -(-len(RCPTS) // limit), repr(sizes))
        check('%s: the transactions shared one connection' % name,
              hop.connections == 1, repr(hop.connections))
        check('%s: nothing bounced, no notice' % name,
              wait(lambda: 'status=sent' in inst.log(), 5) and
              'status=bounced' not in inst.log() and
              'notification' not in inst.log(), inst.log_tail())
finish()
