#!/usr/bin/python3
"""test_metrics_log_budget.py: the status page's log search has a budget
(man/relay-metrics.8, LIMITS): over a log of 300 MB (a rotated
relay.log.1, written here and removed after) it searches the newest
64 MB for 5 s at most, answers with what it found, says on the page and
in the X-Log-Search-Cut header that it was cut; relayctl log still
searches the whole log.

- /log?from= a sender of the newest line: found (unless the machine is
  too busy to read 64 MB in the time: the header then says so too),
  answered within 12 s, the header and the note there;
- /log?from= a sender of the oldest line: not found (outside the
  budget), the page says the search was cut and that relayctl log
  searches the whole log;
- relayctl log --from the same sender: found."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish  # noqa: E402
from test_metrics_http import AUTH_OK, passwd_instance  # noqa: E402

MB = 300
LINE = ('2026-12-07T04:00:00.000 relay-queue[1]: info: '
        '0123456789ABCDEF: from=<a@one.example> size=9\n')


def mark(qid, sender):
    return ('2026-12-07T04:00:00.000 relay-queue[1]: info: %s: '
            'from=<%s> size=9\n' % (qid, sender))


def big_log(path):
    """MB of log lines between an oldest and a newest marked one."""
    chunk = (LINE * 10000).encode()
    with open(path, 'wb') as f:
        f.write(mark('0LDEST123456', 'oldest@one.example').encode())
        for _ in range(MB * 1000000 // len(chunk)):
            f.write(chunk)
        f.write(mark('NEWEST123456', 'newest@one.example').encode())
    os.chmod(path, 0o644)


def search(mport, query, timeout=300):
    """(status line, headers, body, seconds)."""
    t0 = time.time()
    s = socket.create_connection(('127.0.0.1', mport), timeout=timeout)
    s.sendall(('GET /log?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
               'Authorization: Basic %s\r\n\r\n' % (query, AUTH_OK)).encode())
    data = b''
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode(errors='replace').split('\r\n')
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (h.partition(':') for h in lines[1:])}
    return lines[0], headers, body.decode(errors='replace'), \
        time.time() - t0


def test_budget(inst, mport):
    status, headers, body, took = search(mport,
                                         'from=newest%40one.example')
    print('# /log over %d MB: %s in %.1f s, header %r' %
          (MB, status, took, headers.get('x-log-search-cut')), flush=True)
    check('newest sender: 200 within 12 s (%.1f s)' % took,
          status.endswith('200 OK') and took < 12, status)
    cut = headers.get('x-log-search-cut', '')
    # a machine too busy to read 64 MB in the time: cut there too
    check('newest sender: its line found (or the time ran out: %r)' % cut,
          'NEWEST123456' in body or cut == 'bytes, time', body[-800:])
    check('newest sender: X-Log-Search-Cut says what was left out (%r)' %
          cut, cut.startswith('bytes'), headers)
    check('newest sender: the page says the search was cut',
          'id="cut"' in body and 'newest 64 MB' in body, body[-800:])
    status, headers, body, took = search(mport,
                                         'from=oldest%40one.example')
    check('oldest sender: not found, the page says where to look '
          '(%.1f s)' % took, status.endswith('200 OK') and
          '0LDEST123456' not in body and 'relayctl log searches the '
          'whole log' in body, body[-800:])


def test_relayctl(inst):
    r = inst.relayctl('log', '--from', 'oldest@one.example', timeout=600)
    check('relayctl log --from the oldest sender: found (no budget)',
          r.returncode == 0 and '0LDEST123456' in r.stdout,
          (r.returncode, r.stdout[-300:], r.stderr[-300:]))


def main():
    with passwd_instance() as (inst, mport):
        big_log(inst.path('log/relay.log.1'))
        try:
            test_budget(inst, mport)
            test_relayctl(inst)
        finally:
            os.unlink(inst.path('log/relay.log.1'))
    finish()


if __name__ == '__main__':
    main()
