#!/usr/bin/python3
"""test_smtpd_backlog.py: in a relay-smtpd worker serving many sessions
at once, a session whose connect to relay-policy or relay-queue finds
the daemon's accept backlog full (stopped, or too slow to accept) waits
alone: the other sessions of the worker are answered and time out on
time, and the waiting session gets, after smtp_timeout, the reply it
gets when the daemon cannot be reached (421 4.3.0 at the greeting for
relay-policy, 451 4.3.2 "Queue service unavailable" to DATA for
relay-queue).

One worker (smtpd_workers_min=1), smtp_timeout=3.  Session A is set up
first; the daemon is stopped (SIGSTOP, SIGCONT in finally); more
sessions than its backlog holds (lib/usock.h USOCK_BACKLOG, 128, plus
those the kernel lets in over it) then connect to it.  Without the
wait in a coroutine the worker slept in connect(), every session with
it, until the daemon went on."""
import os
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, check, finish  # noqa: E402

TIMEOUT = 3
BACKLOG = 128          # lib/usock.h USOCK_BACKLOG
EXTRA = 40             # sessions past the backlog
FROM = 'sender@example.com'
TO = 'someone@example.org'


def nth_lines(socks, n, until):
    """Each socket's n-th reply line (b'' when closed, None when none
    came before until) and when it came."""
    got = {}
    while len(got) < len(socks) and time.time() < until:
        wait = [s for s in socks if s not in got]
        r, _, _ = select.select(wait, [], [], max(0, until - time.time()))
        for s in r:
            buf = b''
            try:
                for _ in range(n):
                    buf = b''
                    while not buf.endswith(b'\n'):
                        c = s.recv(1)
                        if not c:
                            raise EOFError
                        buf += c
            except (OSError, EOFError):
                pass
            got[s] = (buf, time.time())
    return got


def others_served(a, what):
    """Session A, set up before, is answered at once and its own
    timeout comes on time."""
    t0 = time.time()
    a.s.settimeout(1.5)
    try:
        code = a.cmd(b'NOOP\r\n')[0]
    except (socket.timeout, EOFError, OSError) as e:
        code = repr(e)
    took = time.time() - t0
    check('%s: another session is answered within 1 s' % what,
          code == 250 and took < 1, '%r after %.2f s' % (code, took))
    t0 = time.time()
    a.s.settimeout(TIMEOUT + 3)
    try:
        code, text = a.reply()
    except (socket.timeout, EOFError, OSError) as e:
        code, text = repr(e), []
    took = time.time() - t0
    check('%s: its timeout comes on time' % what,
          code == 421 and TIMEOUT - 0.5 < took < TIMEOUT + 1.5,
          '%r %r after %.2f s' % (code, text, took))


def past_backlog(got, sent, reply, what):
    """Some sessions got reply, about smtp_timeout after their last
    command (sent: when it went, by socket)."""
    late = [t - sent[s] for s, (line, t) in got.items()
            if line.startswith(reply)]
    check('%s: a session past the backlog gets %s' % (what, reply.decode()),
          late, sorted(set(line[:40] for line, _ in got.values())))
    check('%s: after about smtp_timeout' % what,
          late and all(TIMEOUT - 0.5 < t < TIMEOUT + 2.5 for t in late),
          ['%.2f' % t for t in late[:5]])


def connect_many(inst, n, greet, sent):
    """n sessions; greet(sock) after the connect, sent[sock] when it
    ended.  Bounded: stops at the first that gets no answer in time (the
    worker is stuck)."""
    socks = []
    t0 = time.time()
    for _ in range(n):
        s = socket.create_connection(('127.0.0.1', inst.port), timeout=5)
        socks.append(s)
        ok = greet(s)
        sent[s] = time.time()
        if not ok:
            break
    print("# %d sessions in %.2f s" % (len(socks), time.time() - t0))
    return socks


def stopped(inst, daemon, greet, nth, reply):
    """Session A set up, daemon stopped, sessions past its backlog (each
    greet()ed; its nth reply line is the one to the connect), then the
    checks; the daemon goes on, even on failure."""
    what = '%s stopped' % daemon
    a = Raw(inst.port)
    a.reply()
    a.cmd(b'EHLO a.example\r\n')
    pid = inst.status()[daemon][0]
    os.kill(pid, signal.SIGSTOP)
    socks = []
    try:
        sent = {}
        socks = connect_many(inst, BACKLOG + EXTRA, greet, sent)
        time.sleep(0.3)
        others_served(a, what)
        got = nth_lines(socks, nth, time.time() + TIMEOUT + 4)
        past_backlog(got, sent, reply, what)
    finally:
        os.kill(pid, signal.SIGCONT)
        for s in socks:
            s.close()
        a.close()
    b = Raw(inst.port)
    check('%s going on: a new session is served' % daemon,
          b.reply()[0] == 220 and b.cmd(b'EHLO b.example\r\n')[0] == 250)
    b.close()


def to_data(s):
    """Greeting, EHLO, then MAIL, RCPT and DATA in one write (their
    replies come together, once DATA has its queue connection); True
    when the session answered the EHLO (the worker runs)."""
    f = s.makefile('rb', buffering=0)
    try:
        f.readline()
        s.sendall(b'EHLO x.example\r\n')
        while f.readline()[3:4] == b'-':
            pass
        s.sendall(b'MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n' %
                  (FROM.encode(), TO.encode()))
        return True
    except OSError:
        return False


def main():
    conf = {'smtpd_workers_min': '1', 'smtp_timeout': str(TIMEOUT)}
    with Instance(conf_overrides=conf) as inst:
        stopped(inst, 'relay-policy', lambda s: True, 1, b'421 4.3.0')
    with Instance(conf_overrides=conf) as inst:
        stopped(inst, 'relay-queue', to_data, 3,
                b'451 4.3.2 Queue service unavailable')
    finish()


if __name__ == '__main__':
    main()
