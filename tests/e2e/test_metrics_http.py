#!/usr/bin/python3
"""test_metrics_http.py: relay-metrics' HTTP server under clients that
misbehave (man/relay-metrics.8, LIMITS):

- 70 connections from 127.0.0.2 that send a request line and then one
  header byte every second never starve a scrape from 127.0.0.1: it
  answers within 2 s (a per-address limit, a larger global one);
- a connection that never finishes its headers is closed after the
  header deadline, however often it sends a byte;
- a request with a body is answered: POST 405, GET the page;
- /log when relay-metrics cannot read the log says so (as root: the log
  made unreadable to its uid), rather than "0 lines".
"""
import base64
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, check, finish, free_port,  # noqa: E402
                     skipped_unless_root, wait_until)
from test_metrics import passwd_file  # noqa: E402

HEADER_DEADLINE = 5  # metrics/mon_http_guard.c MON_HTTP_HEADER_SECONDS


def request(port, raw, timeout=2.0, src='127.0.0.1'):
    """(first line of the answer or '' / 'TIMEOUT', seconds)."""
    t0 = time.time()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect(('127.0.0.1', port))
        s.sendall(raw)
        data = b''
        while b'\r\n' not in data:
            c = s.recv(4096)
            if not c:
                break
            data += c
        return data.split(b'\r\n', 1)[0].decode(), time.time() - t0
    except socket.timeout:
        return 'TIMEOUT', time.time() - t0
    except OSError as e:
        return 'error %s' % e, time.time() - t0
    finally:
        s.close()


SCRAPE = b'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'


def trickle(port, n, src):
    """n connections from src that send a request line, never its end."""
    out = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.bind((src, 0))
            s.connect(('127.0.0.1', port))
            s.sendall(b'GET / HTTP/1.1\r\n')
            out.append(s)
        except OSError:
            s.close()
    return out


def nudge(socks):
    for s in socks:
        try:
            s.sendall(b'X')
        except OSError:
            pass


def test_slow_clients(mport):
    idle = trickle(mport, 70, '127.0.0.2')
    try:
        for k in range(4):  # 4 s of trickle, then scrape between bytes
            nudge(idle)
            time.sleep(1)
        line, took = request(mport, SCRAPE)
        check('70 trickling connections from 127.0.0.2: a scrape from '
              '127.0.0.1 answers 200 within 2 s (%s in %.1f s)' %
              (line, took), line.endswith('200 OK') and took < 2, line)
    finally:
        for s in idle:
            s.close()


def test_header_deadline(mport):
    s = socket.create_connection(('127.0.0.1', mport), timeout=2)
    t0 = time.time()
    closed = None
    try:
        s.sendall(b'GET / HTTP/1.1\r\n')
        while time.time() - t0 < HEADER_DEADLINE + 6:
            try:
                s.sendall(b'X')
                s.settimeout(1)
                if s.recv(4096) == b'':
                    closed = time.time() - t0
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = time.time() - t0
                break
    finally:
        s.close()
    check('headers never finished: closed after the deadline (%s s)' %
          ('%.1f' % closed if closed else 'never'),
          closed is not None and HEADER_DEADLINE - 1 <= closed <=
          HEADER_DEADLINE + 3, closed)


def test_body(mport):
    for method, want in (('POST', '405 Method Not Allowed'),
                         ('GET', '200 OK')):
        raw = ('%s /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
               'Content-Length: 3\r\n\r\nabc' % method).encode()
        line, took = request(mport, raw)
        check('%s with a body: answered %s (%r)' % (method, want, line),
              line.endswith(want), line)


def test_log_unreadable():
    if skipped_unless_root('/log with an unreadable log'):
        return
    tmp = tempfile.mkdtemp(prefix='relaybox-e2e-pw-')
    pw = os.path.join(tmp, 'metrics.passwd')
    passwd_file(pw)
    mport = free_port()
    try:
        with Instance(conf_overrides={
                'metrics_listen': '127.0.0.1:%d' % mport,
                'metrics_passwd': pw}) as inst:
            wait_until(lambda: 'serving on' in inst.log(), 20)
            os.chmod(inst.path('log/relay.log'), 0o600)
            auth = base64.b64encode(b'ops:secret').decode()
            s = socket.create_connection(('127.0.0.1', mport), timeout=5)
            s.sendall(('GET /log?id=X HTTP/1.1\r\nHost: x\r\nConnection: '
                       'close\r\nAuthorization: Basic %s\r\n\r\n' %
                       auth).encode())
            body = b''
            while True:
                c = s.recv(65536)
                if not c:
                    break
                body += c
            s.close()
            check('/log, log unreadable: the page says so',
                  b'cannot read the log' in body and
                  b'Permission denied' in body, body[-600:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    mport = free_port()
    with Instance(conf_overrides={'metrics_listen': '127.0.0.1:%d' % mport}
                  ) as inst:
        wait_until(lambda: 'serving on' in inst.log(), 20)
        test_body(mport)
        test_slow_clients(mport)
        test_header_deadline(mport)
    test_log_unreadable()
    finish()


if __name__ == '__main__':
    main()
