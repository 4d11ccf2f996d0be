#!/usr/bin/python3
"""test_smtpd_fair.py: in a worker serving many sessions, clients that
keep their sockets full do not stall the others.

One worker (smtpd_workers_min=1) serves every session.  HOGS sessions
each open a message (MAIL, RCPT, DATA) and stream one endless
over-long line as fast as they can for STREAM_S seconds (nothing goes to
relay-queue: they never wait on it, and their reads always find bytes).
Meanwhile another session sends NOOP every 0.2 s: each is answered
within 0.5 s (a session's run budget, lib/coro.h coro_maybe_yield,
hands the worker on every few milliseconds).  Without the budget the
slowest NOOP took 0.8-2.5 s on a 2-core machine.  Prints PASS/FAIL
lines."""
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, finish  # noqa: E402
from harness import check as _check  # noqa: E402
from test_smtpd_protocol import make_tls, starttls  # noqa: E402

HOGS = 3
STREAM_S = 6.0
NOOP_MAX_S = 0.5


def check(name, cond, detail=''):
    return _check(name, cond, detail if isinstance(detail, str) else repr(detail))


def open_message(inst, name, tls):
    """A session up to DATA's 354; the client and the replies' codes."""
    r = Raw(inst.port, timeout=30)
    codes = [r.reply()[0]]
    if tls:
        codes.append(r.cmd(b'EHLO %s.example\r\n' % name)[0])
        codes.append(r.cmd(b'STARTTLS\r\n')[0])
        starttls(r)
    for line in (b'EHLO %s.example\r\n' % name,
                 b'MAIL FROM:<%s@example.com>\r\n' % name,
                 b'RCPT TO:<x@example.org>\r\n', b'DATA\r\n'):
        codes.append(r.cmd(line)[0])
    return r, codes


def pump(raw, stop, sent):
    """Stream one endless line until stop (bounded by the clock)."""
    chunk = b'xy' * 400000
    try:
        while time.time() < stop:
            raw.s.sendall(chunk)
            sent.append(len(chunk))
    except OSError:
        pass  # the server ended the session: seen in the NOOPs' figures


def noop_latencies(quiet, stop):
    """NOOP every 0.2 s until stop: each one's seconds (None: no reply)."""
    lat = []
    while time.time() < stop:
        t0 = time.time()
        try:
            code = quiet.cmd(b'NOOP\r\n')[0]
        except (OSError, EOFError):
            code = None
        lat.append(round(time.time() - t0, 3) if code == 250 else None)
        time.sleep(0.2)
    return lat


def test_hogs_do_not_stall(inst, how, tls=False):
    quiet = Raw(inst.port, timeout=30)
    quiet.reply()
    quiet.cmd(b'EHLO quiet.example\r\n')
    hogs = [open_message(inst, b'hog%d' % i, tls) for i in range(HOGS)]
    check('%s: the streaming sessions reach DATA' % how,
          all(codes == [220] + [250, 220] * tls + [250, 250, 250, 354]
              for _, codes in hogs),
          [codes for _, codes in hogs])
    check('%s: one worker serves them all' % how,
          len(inst.pids(['relay-smtpd'])) == 1, inst.pids(['relay-smtpd']))
    stop = time.time() + STREAM_S
    sent = []
    threads = [threading.Thread(target=pump, args=(r, stop, sent))
               for r, _ in hogs]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        lat = noop_latencies(quiet, stop - 0.5)
    finally:
        for t in threads:
            t.join(STREAM_S + 30)
    print('# streamed %.0f MB; NOOP seconds: %s' % (sum(sent) / 1e6, lat))
    check('%s: the hogs streamed all along' % how, sum(sent) > 50e6,
          sum(sent))
    check('%s: every NOOP answered within %.1f s while others stream'
          % (how, NOOP_MAX_S),
          len(lat) >= 10 and None not in lat and max(lat) < NOOP_MAX_S, lat)
    for r, _ in hogs:
        r.close()
    quiet.close()


def main():
    with Instance(conf_overrides={'smtpd_workers_min': '1'}) as inst:
        test_hogs_do_not_stall(inst, 'plain')
    tmp = tempfile.mkdtemp(prefix='relaybox-fair.')
    try:
        cert, key = make_tls(tmp)
        conf = {'smtpd_workers_min': '1', 'tls_cert': cert, 'tls_key': key}
        with Instance(conf_overrides=conf) as inst:
            test_hogs_do_not_stall(inst, 'TLS', tls=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
