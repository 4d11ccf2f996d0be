#!/usr/bin/python3
"""test_metrics_unread.py: relay-metrics closes a connection whose client
sends requests and never reads the answers (man/relay-metrics.8,
LIMITS): libmicrohttpd's connection timeout (10 s) counts the bytes the
client takes as well as those it sends, so once the answers fill the
socket buffers (a tiny receive buffer, a window that stays shut) the
connection is closed 10 s later, its thread and slot freed, and logged;
a scrape meanwhile answers.

8 connections from two addresses each pipeline 6,000 requests (their
404 answers, about 1.5 MB, more than the buffers hold) and never read:
every one leaves ESTABLISHED on the server's side within 30 s, and the
log says how many were closed so (one line a second at most)."""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, check, finish, free_port, wait_until  # noqa: E402
from test_metrics_http import SCRAPE, request  # noqa: E402

CONNS = 8
PIPELINED = 6000
BOUND = 30   # the buffers fill in a few s, then 10 s of no progress


def established(mport):
    out = subprocess.run(['ss', '-tnH', 'state', 'established',
                          '( sport = :%d )' % mport],
                         stdout=subprocess.PIPE, text=True).stdout
    return [l for l in out.splitlines() if l.strip()]


def unread(mport, src):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    s.bind((src, 0))
    s.connect(('127.0.0.1', mport))
    s.setblocking(False)
    return s, b'GET /none HTTP/1.1\r\nHost: x\r\n\r\n' * PIPELINED


def feed(pending):
    """Send what the server takes of each connection's requests."""
    for s, rest in list(pending.items()):
        try:
            k = s.send(rest)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            k = len(rest)
        pending[s] = rest[k:]
        if not pending[s]:
            del pending[s]


def closed_lines(inst):
    return re.findall(r'relay-metrics\[\d+\]: warning: closed (\d+) '
                      r'connections? after 10 s with nothing moving',
                      inst.log())


def main():
    mport = free_port()
    with Instance(conf_overrides={'metrics_listen': '127.0.0.1:%d' % mport}
                  ) as inst:
        wait_until(lambda: 'serving on' in inst.log(), 20)
        socks = [unread(mport, '127.0.4.%d' % (1 + i % 2))
                 for i in range(CONNS)]
        pending = {s: req for s, req in socks}
        t0 = time.time()
        try:
            stalled = queued = 0
            while time.time() - t0 < BOUND:
                feed(pending)
                held = established(mport)
                stalled = max(stalled, len(held))
                queued = max([queued] + [int(h.split()[1]) for h in held])
                if stalled and not held:
                    break
                time.sleep(0.5)
            took = time.time() - t0
            line, _ = request(mport, SCRAPE)
            check('%d connections that never read: held by the server at '
                  'first (%d), answers waiting in its send queue (%d bytes '
                  'at most)' % (CONNS, stalled, queued),
                  stalled == CONNS and queued > 100000, (stalled, queued))
            check('... all closed by the server within %d s (%.0f s, %d '
                  'left)' % (BOUND, took, len(established(mport))),
                  not established(mport), established(mport)[:3])
            check('a scrape answers (%s)' % line, line.endswith('200 OK'),
                  line)
            wait_until(lambda: sum(map(int, closed_lines(inst))) >= CONNS,
                       3)  # the line comes within a second
            logged = closed_lines(inst)
            check('the log says so, in a line a second at most (%r)' %
                  logged, logged and sum(map(int, logged)) == CONNS and
                  len(logged) <= BOUND, inst.log_tail(10))
        finally:
            for s, _ in socks:
                s.close()
    finish()


if __name__ == '__main__':
    main()
