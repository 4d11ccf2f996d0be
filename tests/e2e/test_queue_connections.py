#!/usr/bin/python3
"""test_queue_connections.py: relay-queue takes as many connections as
relay-listen takes sessions (conn_max, plus room for the connections
relay-smtpd keeps between messages): a session in DATA holds one, so
one client address holding its conn_per_ip sessions in a slow DATA
leaves every other client's DATA working.  Here conn_max = 1100 and
conn_per_ip = 1005, and 1005 sessions from 127.0.0.1 sit in DATA (a
fixed 1,000 connections used to be all relay-queue took: 451 for
everyone else).  Needs IPv6 on loopback (the other client is ::1)."""
import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, have_ipv6,  # noqa: E402
                     skip, smtp_session)

HELD = 1005
CONF = {'conn_max': 1100, 'conn_per_ip': HELD}
OPENERS = 10


def slow_data(port, n, held, errors):
    """n sessions from 127.0.0.1, one after another, each left in DATA
    after a line."""
    for _ in range(n):
        if not slow_one(port, held, errors):
            return


def slow_one(port, held, errors):
    try:
        s = socket.create_connection(('127.0.0.1', port), timeout=30)
        f = s.makefile('rb')
        f.readline()
        s.sendall(b'EHLO slow.test\r\n')
        while f.readline()[3:4] != b' ':
            pass
        s.sendall(b'MAIL FROM:<a@example.com>\r\n'
                  b'RCPT TO:<slow@example.org>\r\nDATA\r\n')
        replies = [f.readline() for _ in range(3)]
        if not replies[2].startswith(b'354'):
            errors.append(replies)
            s.close()
            return False
        s.sendall(b'Subject: slow\r\n\r\n' + b'x' * 200 + b'\r\n')
        held.append((s, f))
        return True
    except OSError as e:
        errors.append(str(e))
        return False


def main():
    if not have_ipv6():
        skip('test_queue_connections', 'the other client comes from ::1')
        finish()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * HELD:
        skip('test_queue_connections', 'descriptor limit %d' % hard)
        finish()
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with Sink() as sink, Instance(sink=sink, conf_overrides=CONF) as inst:
        held, errors = [], []
        ths = [threading.Thread(target=slow_data,
                                args=(inst.port, HELD // OPENERS +
                                      (k < HELD % OPENERS), held, errors))
               for k in range(OPENERS)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(300)
        check('%d sessions from 127.0.0.1 in DATA' % HELD,
              len(held) == HELD, '%d, errors %r' % (len(held), errors[:3]))
        time.sleep(1)
        try:
            with smtp_session(inst.port6 or inst.port, source_ip='::1',
                              timeout=60) as c:
                c.sendmail('a@example.com', ['other@example.org'],
                           b'Subject: other\r\n\r\nhi\r\n')
            r = '250'
        except Exception as e:  # noqa: B902 (the reply is the result)
            r = repr(e)[:200]
        check('meanwhile another client\'s DATA from ::1: 250', r == '250',
              r + '\n' + inst.log_tail(15))
        check('no connection to relay-queue refused',
              'peer refused' not in inst.log(), inst.log_tail(15))
        for s, f in held:
            s.sendall(b'.\r\n')
        got = sum(1 for s, f in held if f.readline().startswith(b'250'))
        check('the slow ones then queued too', got == HELD, '%d' % got)
        for s, f in held:
            s.close()
        check('all delivered', sink.wait_for(HELD + 1, 300),
              '%d' % len(sink.messages))
    finish()


if __name__ == '__main__':
    main()
