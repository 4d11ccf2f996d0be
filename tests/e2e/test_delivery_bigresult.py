#!/usr/bin/python3
"""test_delivery_bigresult.py: a message to 200 recipients (one job)
whose next hop answers the final dot with a long reply (~400 bytes).  The
result frame, one line per recipient with that text, would pass the
64 KiB frame limit: relay-remote once could not send it, relay-send saw
"delivery agent went away", deferred all 200, and every retry delivered
another copy.  The texts are now cut to fit: one copy, the queue empty,
the cut logged."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sink as sinkmod  # noqa: E402
from harness import Instance, Sink, check, finish  # noqa: E402
from test_queue_daemon import env, inject  # noqa: E402

LONG = '250 2.0.0 Ok: queued as ' + 'A' * 380
N = 200  # relay-send's most recipients in one job


class LongReply(sinkmod._Handler):
    async def handle_DATA(self, server, session, envelope):
        await super().handle_DATA(server, session, envelope)
        return LONG


class LongSink(Sink):
    handler_class = LongReply


def main():
    with LongSink() as sink, Instance(sink=sink, conf_overrides={
            'retry_min': 2, 'retry_max': 4}) as inst:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(inst.path('run/queue.sock'))
        rcpts = ['r%03d@example.org' % i for i in range(N)]
        rep = inject(s, b'Subject: big\r\n\r\nhello\r\n',
                     env('a@example.com', *rcpts))
        s.close()
        check('injected', rep and rep.get('status') == '0', repr(rep))
        empty = sink.wait_for(1, 30) and inst.wait_queue_empty(20)
        time.sleep(5)  # past retry_min: a deferred job would go again
        log = inst.log()
        check('delivered and retired', empty, inst.log_tail())
        check('exactly one copy, to all %d' % N,
              len(sink.messages) == 1 and len(sink.messages[0].rcpts) == N,
              '%d copies' % len(sink.messages))
        sent = [ln for ln in log.splitlines()
                if 'relay-send' in ln and 'status=sent' in ln]
        check('relay-send: each recipient sent, once',
              all(sum('to=<%s>' % r in ln for ln in sent) == 1
                  for r in rcpts), inst.log_tail())
        check('the cut is logged', 'reply texts cut' in log, inst.log_tail())
        check('relay-remote never went away', 'went away' not in log,
              inst.log_tail())


if __name__ == '__main__':
    main()
    finish()
