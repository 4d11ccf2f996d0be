#!/usr/bin/python3
"""test_metrics_http.py: relay-metrics' HTTP server under clients that
misbehave (man/relay-metrics.8, LIMITS):

- 70 connections from 127.0.0.2 that send a request line and then one
  header byte every second never starve a scrape from 127.0.0.1: it
  answers within 2 s (a per-address limit, a larger global one);
- a connection that never finishes its headers is closed after the
  header deadline, however often it sends a byte;
- no request takes a body: one that announces a body (Content-Length,
  Transfer-Encoding) is answered at once, POST 405, GET 413, and closed,
  even while its body trickles in a byte a second;
- with metrics_passwd: 64 connections from 8 addresses that send wrong
  passwords back to back do not keep a right one out: the first scrape
  with it answers 200 within 5 s, and so does the next; a second wrong
  password from one address within a second is 429, unhashed;
- a log search over a large log does not hold up /metrics: a scrape
  started while it runs is answered before it;
- /log when relay-metrics cannot read the log says so (as root: the log
  made unreadable to its uid), rather than "0 lines";
- on [::1] (an IPv6 client is keyed by its /64,
  tests/unit/test_mon_http_key.c, where several addresses of one /64
  are played; loopback has ::1 alone): a page is served, a wrong password
  is 401 and another at once 429, the right one a second later 200.
"""
import base64
import contextlib
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, check, finish, free_port,  # noqa: E402
                     have_ipv6, skipped_unless_root, wait_until)
from test_metrics import passwd_file  # noqa: E402

HEADER_DEADLINE = 5  # metrics/mon_http_guard.c MON_HTTP_HEADER_SECONDS


def request(port, raw, timeout=2.0, src='127.0.0.1'):
    """(first line of the answer or '' / 'TIMEOUT', seconds); over IPv6
    to ::1 when src is an IPv6 address."""
    t0 = time.time()
    v6 = ':' in src
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect(('::1' if v6 else '127.0.0.1', port))
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


def trickle_answer(mport, head):
    """Send head, then a byte a second; (first line of the answer,
    seconds until the connection closed or None)."""
    s = socket.create_connection(('127.0.0.1', mport), timeout=2)
    t0, data, closed = time.time(), b'', None
    try:
        s.sendall(head)
        while time.time() - t0 < HEADER_DEADLINE + 6:
            try:
                s.sendall(b'x')
                s.settimeout(1)
                c = s.recv(4096)
                if c == b'':
                    closed = time.time() - t0
                    break
                data += c
            except socket.timeout:
                continue
            except OSError:
                closed = time.time() - t0
                break
    finally:
        s.close()
    return data.split(b'\r\n', 1)[0].decode(errors='replace'), closed


def test_header_deadline(mport):
    _, closed = trickle_answer(mport, b'GET / HTTP/1.1\r\n')
    check('headers never finished: closed after the deadline (%s s)' %
          ('%.1f' % closed if closed else 'never'),
          closed is not None and HEADER_DEADLINE - 1 <= closed <=
          HEADER_DEADLINE + 3, closed)


def test_body(mport):
    for method, want in (('POST', ' 405 '), ('GET', ' 413 ')):
        raw = ('%s /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
               'Content-Length: 3\r\n\r\nabc' % method).encode()
        line, took = request(mport, raw)
        check('%s with a body: answered%s(%r)' % (method, want, line),
              want in line, line)


def test_slow_body(mport):
    for method, head, want in (
            ('POST', 'Content-Length: 100000000', '405'),
            ('GET', 'Content-Length: 100000000', '413'),
            ('GET', 'Transfer-Encoding: chunked', '413')):
        raw = ('%s /metrics HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n%s' %
               (method, head, '5f5e100\r\n' if 'chunked' in head else '')
               ).encode()
        line, closed = trickle_answer(mport, raw)
        check('%s, %s, a body byte a second: answered %s and closed '
              'within 3 s (%r, closed after %s s)' %
              (method, head, want, line, closed),
              want in line and closed is not None and closed < 3,
              line)


AUTH_OK = base64.b64encode(b'ops:secret').decode()
AUTH_BAD = base64.b64encode(b'nobody:wrong').decode()


def scrape_with(auth):
    return ('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
            'Authorization: Basic %s\r\n\r\n' % auth).encode()


def read_answer(s):
    """One whole answer on a kept-alive connection; its status line."""
    data = b''
    while b'\r\n\r\n' not in data:
        c = s.recv(4096)
        if not c:
            raise OSError('closed')
        data += c
    head, rest = data.split(b'\r\n\r\n', 1)
    length = 0
    for h in head.split(b'\r\n')[1:]:
        k, _, v = h.partition(b':')
        if k.strip().lower() == b'content-length':
            length = int(v)
    while len(rest) < length:
        c = s.recv(65536)
        if not c:
            raise OSError('closed')
        rest += c
    return head.split(b'\r\n', 1)[0]


def flood(mport, src, stop, counts):
    """Wrong passwords back to back on one kept-alive connection (a new
    one when it is closed) until stop is set."""
    req = ('GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic '
           '%s\r\n\r\n' % AUTH_BAD).encode()
    while not stop.is_set():
        try:
            s = socket.socket()
            s.settimeout(5)
            s.bind((src, 0))
            s.connect(('127.0.0.1', mport))
            while not stop.is_set():
                s.sendall(req)
                counts.append(read_answer(s))
        except OSError:
            stop.wait(0.05)
        finally:
            s.close()


def test_auth_flood(mport):
    stop, counts = threading.Event(), []
    threads = [threading.Thread(target=flood, daemon=True, args=(
        mport, '127.0.1.%d' % (1 + i // 8), stop, counts)) for i in range(64)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        for which in ('first', 'second'):
            line, took = request(mport, scrape_with(AUTH_OK), timeout=10)
            check('64 connections sending wrong passwords: the %s right '
                  'scrape answers 200 within 5 s (%s in %.1f s, %d wrong '
                  'ones answered)' % (which, line, took, len(counts)),
                  line.endswith('200 OK') and took < 5, line)
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def test_failure_pause(mport, src='127.0.2.1'):
    time.sleep(1.5)  # what the address failed before is forgotten
    lines = [request(mport, scrape_with(AUTH_BAD), timeout=10,
                     src=src)[0] for _ in range(2)]
    check('%s: a wrong password: 401, another from that address at once: '
          '429 (%r)' % (src, lines), lines[0].endswith('401 Unauthorized') and
          lines[1].endswith('429 Too Many Requests'), lines)
    time.sleep(1.5)
    line = request(mport, scrape_with(AUTH_OK), timeout=10, src=src)[0]
    check('%s: a second later the right password: 200 (%r)' % (src, line),
          line.endswith('200 OK'), line)


def big_rotated_log(path, megabytes):
    line = ('2026-12-07T04:00:00.000 relay-queue[1]: info: '
            '0123456789ABCDEF: from=<a@one.example> size=9\n')
    chunk = (line * 10000).encode()
    with open(path, 'wb') as f:
        for _ in range(megabytes * 1000000 // len(chunk)):
            f.write(chunk)
    os.chmod(path, 0o644)


def timed(mport, raw, out, key, timeout):
    t0 = time.time()
    out[key] = request(mport, raw, timeout=timeout)[0], t0, time.time()


def search_under_way(mport, search):
    """Whether a second search was refused 503 within 5 s."""
    time.sleep(0.03)    # the first search has its lock by then
    end = time.time() + 5
    while time.time() < end:
        if request(mport, search, timeout=10)[0].endswith('503 Service '
                                                          'Unavailable'):
            return True
        time.sleep(0.01)
    return False


def test_log_beside_metrics(inst, mport):
    big_rotated_log(inst.path('log/relay.log.1'), 200)
    try:
        search = ('GET /log?from=nobody%%40x.example HTTP/1.1\r\nHost: x\r\n'
                  'Connection: close\r\nAuthorization: Basic %s\r\n\r\n' %
                  AUTH_OK).encode()
        out = {}
        t = threading.Thread(target=timed, args=(mport, search, out, 'log',
                                                 120))
        t.start()
        # the search's budget ends it in well under a second on a fast
        # machine: scrape only once a second search is refused as
        # "under way", so the scrape is known to overlap the search
        under_way = search_under_way(mport, search)
        timed(mport, scrape_with(AUTH_OK), out, 'metrics', 120)
        t.join(130)
        log, metrics = out.get('log'), out['metrics']
        check('a scrape while a log search of 200 MB runs: answered first '
              '(search seen under way: %s; /log %r %.1f s; /metrics %r '
              '%.1f s)' % (under_way, log and log[0],
                           log[2] - log[1] if log else -1, metrics[0],
                           metrics[2] - metrics[1]),
              under_way and log and log[0].endswith('200 OK') and
              metrics[0].endswith('200 OK') and metrics[2] < log[2], out)
    finally:
        os.unlink(inst.path('log/relay.log.1'))


def test_log_unreadable(inst, mport):
    if skipped_unless_root('/log with an unreadable log'):
        return
    os.chmod(inst.path('log/relay.log'), 0o600)
    s = socket.create_connection(('127.0.0.1', mport), timeout=5)
    s.sendall(('GET /log?id=X HTTP/1.1\r\nHost: x\r\nConnection: '
               'close\r\nAuthorization: Basic %s\r\n\r\n' %
               AUTH_OK).encode())
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


@contextlib.contextmanager
def passwd_instance(host='127.0.0.1'):
    """An instance whose pages need metrics_passwd (user ops, password
    secret: AUTH_OK), serving on host: (inst, its metrics port)."""
    tmp = tempfile.mkdtemp(prefix='relaybox-e2e-pw-')
    pw = os.path.join(tmp, 'metrics.passwd')
    passwd_file(pw)
    mport = free_port() if host == '127.0.0.1' else free_port6()
    listen = host if host == '127.0.0.1' else '[%s]' % host
    try:
        with Instance(conf_overrides={
                'metrics_listen': '%s:%d' % (listen, mport),
                'metrics_passwd': pw}) as inst:
            wait_until(lambda: 'serving on' in inst.log(), 20)
            yield inst, mport
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def free_port6():
    with socket.socket(socket.AF_INET6) as s:
        s.bind(('::1', 0))
        return s.getsockname()[1]


def test_ipv6_client():
    """The limits keyed by an IPv6 client's /64 still serve ::1."""
    if not have_ipv6():
        print('SKIP ipv6: no ::1', flush=True)
        return
    with passwd_instance('::1') as (_, mport):
        page = request(mport, scrape_with(AUTH_OK), timeout=10, src='::1')[0]
        check('::1: /metrics with the password: 200 (%r)' % page,
              page.endswith('200 OK'), page)
        test_failure_pause(mport, '::1')


def with_passwd():
    with passwd_instance() as (inst, mport):
        test_auth_flood(mport)
        test_failure_pause(mport)
        test_log_beside_metrics(inst, mport)
        test_log_unreadable(inst, mport)  # last: the log stays so


def main():
    mport = free_port()
    with Instance(conf_overrides={'metrics_listen': '127.0.0.1:%d' % mport}
                  ) as inst:
        wait_until(lambda: 'serving on' in inst.log(), 20)
        test_body(mport)
        test_slow_body(mport)
        test_slow_clients(mport)
        test_header_deadline(mport)
    with_passwd()
    test_ipv6_client()
    finish()


if __name__ == '__main__':
    main()
