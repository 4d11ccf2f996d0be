#!/usr/bin/python3
"""test_tls_reload.py: a certificate renewed while a STARTTLS session of
a worker serving many sessions waits to send its "220 Ready" costs that
session nothing: it still shakes hands (with the context it was given),
and the worker lives on.

Session A pipelines HELPs and STARTTLS and reads its replies slowly,
until the worker holds the last part of them, the 220 included, and
waits for room (it yields in the flush before its handshake).  Then
`relayctl reload` renews the certificate and session B's STARTTLS
builds the new context, which replaced the one A was given.  A reads
the rest and shakes hands.  A context freed under A is a use after
free, which the ASan build of `make test` reports (the worker dies with
every session in it)."""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, finish, wait_until  # noqa: E402
from certs import TestCerts, check  # noqa: E402

READY = b'220 2.0.0 Ready to start TLS\r\n'
OUT_BUF = 16384  # lib/io.h IO_BUFSZ: the worker flushes replies by this


def read_reply(sock):
    """One whole reply's bytes (a small one, read a byte at a time)."""
    got = b''
    while True:
        c = sock.recv(1)
        if not c:
            raise EOFError('closed after %r' % got)
        got += c
        if got.endswith(b'\r\n'):
            last = got[:-2].rsplit(b'\r\n', 1)[-1]
            if last[3:4] != b'-':
                return got


def written(sock, port):
    """Bytes the worker has written to A's connection: acknowledged by
    us (ss's bytes_acked) and still in its send queue (Send-Q).  None
    when ss does not find the connection."""
    out = subprocess.run(['ss', '-tinH', 'state', 'established', 'sport',
                          '=', ':%d' % port, 'dport', '=',
                          ':%d' % sock.getsockname()[1]],
                         stdout=subprocess.PIPE, text=True).stdout.split()
    acked = [w for w in out if w.startswith('bytes_acked:')]
    if len(out) < 2 or not acked:
        return None
    return int(acked[0].split(':')[1]) + int(out[1])


def settled(sock, port):
    """written() once it stopped moving (the worker waits for room)."""
    last = None
    for _ in range(30):
        time.sleep(0.1)
        w = written(sock, port)
        if w is not None and w == last:
            return w
        last = w
    return last


def pipeline_size(stuck, pre, help_len):
    """How many HELPs before STARTTLS so that the replies' last flush
    (what is left after whole buffers, STARTTLS's 220 last) straddles
    where the worker got stuck before (stuck, in bytes written), with
    2 KiB to spare either side; 0 when none does.  The pipeline fits the
    worker's input buffer (one read)."""
    best, n = 0, 0
    for k in range(100, (OUT_BUF - 64) // 6):
        end = pre + k * help_len + len(READY)
        last = (end - pre) % OUT_BUF
        spare = min(stuck - (end - last), end - stuck)
        if spare > best:
            best, n = spare, k
    return n if best >= 2048 else 0


def start_a(port):
    """Session A after EHLO and one HELP: (socket, bytes of replies so
    far, bytes of a HELP reply).  A small receive buffer and segments:
    the worker's send queue stays small."""
    a = socket.socket()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1200)
    a.settimeout(20)
    a.connect(('127.0.0.1', port))
    pre = len(read_reply(a))
    a.sendall(b'EHLO a.example\r\n')
    pre += len(read_reply(a))
    a.sendall(b'HELP\r\n')
    help_len = len(read_reply(a))
    return a, pre + help_len, help_len


def a_in_flush(port):
    """Session A waiting in its STARTTLS flush, never read from: how
    much the kernel takes before the worker waits depends on the
    machine, so the first try measures it and the next ones aim at it.
    (socket, bytes written in all when the 220 is out) or None."""
    stuck = None
    for _ in range(4):
        a, pre, help_len = start_a(port)
        n = (OUT_BUF - 64) // 6 - 1
        if stuck is not None:
            n = pipeline_size(stuck, pre, help_len)
        if not n:
            a.close()
            return None
        end = pre + n * help_len + len(READY)
        last = (end - pre) % OUT_BUF
        a.sendall(b'HELP\r\n' * n + b'STARTTLS\r\n')
        stuck = settled(a, port)
        print('# %d HELPs: %d bytes, the last flush %d, stuck at %s' %
              (n, end, last, stuck))
        if stuck is not None and end - last < stuck < end:
            return a, end
        a.close()
    return None


def main():
    with TestCerts() as certs:
        conf = certs.conf()
        conf.update({'smtpd_workers_min': '1'})
        with Instance(conf_overrides=conf) as inst:
            run(inst, certs)
    finish()


def run(inst, certs):
    got = a_in_flush(inst.port)
    if not check('session A waits to send its STARTTLS reply', got):
        return
    a, end = got
    reloads = len(re.findall(r'tls: serving', inst.log()))
    r = inst.relayctl('reload')
    check('relayctl reload', r.returncode == 0, r.stderr)
    wait_until(lambda: len(re.findall(r'tls: serving', inst.log())) > reloads,
               10)
    time.sleep(0.3)  # the worker sees the store's new sequence number

    b = socket.create_connection(('127.0.0.1', inst.port), timeout=10)
    read_reply(b)
    b.sendall(b'EHLO b.example\r\n')
    read_reply(b)
    b.sendall(b'STARTTLS\r\n')
    check('session B STARTTLS', read_reply(b).startswith(b'220'))
    bs = certs.client_context().wrap_socket(b, server_hostname='relaybox.test')
    bs.sendall(b'NOOP\r\n')
    check('session B shakes hands after the reload',
          read_reply(bs).startswith(b'250'))
    w = written(a, inst.port)
    check('session A still waited while B shook hands',
          w is not None and w < end)
    bs.close()

    rest = b''
    a.settimeout(10)
    try:
        while not rest.endswith(READY):
            c = a.recv(65536)
            if not c:
                break
            rest += c
    except OSError:
        pass
    check('session A gets every reply, 220 last', rest.endswith(READY),
          rest[-80:])
    try:
        tls = certs.client_context().wrap_socket(
            a, server_hostname='relaybox.test')
        tls.sendall(b'NOOP\r\n')
        ok = read_reply(tls).startswith(b'250')
        tls.close()
    except (OSError, EOFError) as e:
        ok = False
        rest = repr(e)
    check('session A shakes hands with the context it was given', ok, rest[-80:])
    time.sleep(0.5)
    m = re.search(r'ERROR: AddressSanitizer: .*', inst.log())
    check('no sanitizer report in the log', not m, m and m.group(0))


if __name__ == '__main__':
    main()
