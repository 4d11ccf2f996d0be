#!/usr/bin/python3
"""test_cache_connections.py: connection caching, counted at the receiver.
1,000 messages to one destination (the relayhost, a sink that counts the
connections it accepts), sent by 4 parallel SMTP clients, with the
default settings (conn_cache_max 100 transactions a connection,
remote_workers 8): every message arrives once, over far fewer
connections than messages (at most 1 for 10; 1,000 / 100 = 10 is the
least the defaults allow)."""
import os
import smtplib
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish  # noqa: E402

N = 1000
CLIENTS = 4


def client(port, serials, accepted, lock):
    """Send serials over one connection (a new one after a failure)."""
    c = None
    for s in serials:
        try:
            if c is None:
                c = smtplib.SMTP('127.0.0.1', port, timeout=30)
            c.sendmail('a@example.com', ['r%d@example.org' % s],
                       b'Subject: cache %d\r\n\r\nserial=%d\r\n' % (s, s))
            with lock:
                accepted.add(s)
        except (OSError, smtplib.SMTPException):
            c = None
    if c:
        c.quit()


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        accepted, lock = set(), threading.Lock()
        threads = [threading.Thread(target=client, args=(
            inst.port, range(i, N, CLIENTS), accepted, lock))
            for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        check('all %d messages accepted' % N, len(accepted) == N,
              '%d accepted' % len(accepted))
        check('all delivered', sink.wait_for(len(accepted), 60) and
              inst.wait_queue_empty(30), inst.log_tail())
        rcpts = [r for m in sink.messages for r in m.rcpts]
        check('each exactly once', len(rcpts) == len(set(rcpts)) == N,
              '%d arrivals, %d distinct' % (len(rcpts), len(set(rcpts))))
        conns = sink.connections
        print('# %d messages over %d connections at the receiver' %
              (len(rcpts), conns), flush=True)
        check('cached connections: %d connections for %d messages '
              '(at most 1 for 10)' % (conns, N), 1 <= conns <= N // 10,
              inst.log_tail())
    finish()


if __name__ == '__main__':
    main()
