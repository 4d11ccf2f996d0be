#!/usr/bin/python3
"""test_cache_421.py: a receiver that sheds load with 421 and closes the
connection, under connection caching.  For its first 3 seconds it
answers every MAIL with 421 4.3.2 and hangs up; after that it answers
every 5th DATA with 421 and hangs up (the message is not taken).  40
messages to that one destination: each arrives exactly once (a 421 is
a deferral, never a loss or a bounce), the queue empties, no DSN is
made, and the relay opened new connections after each 421.  The sink
closes 50 ms after its 421 and answers meanwhile, as a lax server might:
a relay that cached the connection after the 421 (RSET answered) sent
the next message into the close and delivered it twice (fixed in
send/remote_txn.c: a 421 marks the connection broken)."""
import asyncio
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sink as sinkmod  # noqa: E402
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402

N = 40
WINDOW = 3.0
EVERY = 5


class Shedding(sinkmod._Handler):
    """The sink's handler, with 421-and-close at MAIL (for WINDOW s) and
    at every EVERY-th DATA."""

    def _shed(self, server):
        self.sink.shed += 1
        # aiosmtpd sends the reply after the handler returns: close after
        asyncio.get_event_loop().call_later(0.05, server.transport.close)
        return '421 4.3.2 Service shutting down, closing connection'

    async def handle_MAIL(self, server, session, envelope, address, options):
        if time.time() < self.sink.t0 + WINDOW:
            return self._shed(server)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return '250 2.1.0 OK'

    async def handle_DATA(self, server, session, envelope):
        with self.sink.lock:
            self.sink.datas += 1
            n = self.sink.datas
        if n % EVERY == 0:
            return self._shed(server)
        return await super().handle_DATA(server, session, envelope)


def main():
    sinkmod._Handler = Shedding       # this process only
    with Sink() as sink:
        sink.t0, sink.shed, sink.datas = time.time(), 0, 0
        with Instance(sink=sink, conf_overrides={
                'retry_min': 1, 'retry_max': 3}) as inst:
            sink.t0 = time.time()
            with smtplib.SMTP('127.0.0.1', inst.port, timeout=30) as c:
                for i in range(N):
                    c.sendmail('a@example.com', ['r%d@example.org' % i],
                               b'Subject: shed %d\r\n\r\nx\r\n' % i)
            check('every message arrives',
                  wait_until(lambda: len({r for r, _ in sink.recipients()})
                             >= N, 60), inst.log_tail())
            check('queue empty', inst.wait_queue_empty(30), inst.log_tail())
            time.sleep(1)
            rcpts = [r for r, _ in sink.recipients()]
            check('each exactly once', sorted(rcpts) == sorted(
                'r%d@example.org' % i for i in range(N)),
                '%d arrivals, %d distinct' % (len(rcpts), len(set(rcpts))))
            check('no DSN', not [m for m in sink.messages
                                 if m.mail_from in ('', '<>')])
            check('the receiver shed load with 421 several times',
                  sink.shed >= 3, 'shed %d' % sink.shed)
            check('421s logged as deferrals',
                  inst.wait_log(r'status=deferred \(421 4\.3\.2', 5),
                  inst.log_tail())
            print('# %d messages, %d 421s, %d connections' %
                  (N, sink.shed, sink.connections), flush=True)
            check('a new connection after each 421 (%d connections, '
                  '%d 421s)' % (sink.connections, sink.shed),
                  sink.connections > sink.shed)
    finish()


if __name__ == '__main__':
    main()
