#!/usr/bin/python3
"""test_smtpd_stuck.py: relay-smtpd's waits are bounded, in a real
instance with short timeouts (smtp_timeout 2 s, data_timeout 3 s):

- a client that stops in the middle of DATA hears 421 4.4.2 after
  data_timeout, and so does one that sends a line every second (the
  whole message must come within data_timeout), whether its worker
  serves many sessions or one;
- relay-policy stopped (SIGSTOP, so it neither answers nor closes):
  MAIL is answered 421 4.3.0 after about smtp_timeout and the session
  ends, and once policy runs again a new session is served;
- relay-queue stopped: the message is answered 451 after about
  data_timeout, and once it runs again the next message is queued;
- a plain session's log lines (kept to be written together) reach the
  log while the session is still open, once the client is idle;
- session_timeout bounds writes too: a client that pipelines commands
  and never reads their replies is dropped at session_timeout (4 s here),
  not one smtp_timeout after another (16 s before), whether its worker
  serves many sessions or one.

Every stopped daemon is continued in a finally block.  Prints PASS/FAIL
lines."""
import os
import re
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, finish, session_closed, wait_until  # noqa: E402
from harness import check as _check  # noqa: E402


def check(name, cond, detail=''):
    return _check(name, cond, detail if isinstance(detail, str) else repr(detail))


def greet(inst):
    r = Raw(inst.port, timeout=20)
    code, _ = r.reply()
    return r, code


def to_rcpt(r):
    """EHLO, MAIL, RCPT: their codes."""
    return [r.cmd(b'EHLO t.example\r\n')[0],
            r.cmd(b'MAIL FROM:<a@example.com>\r\n')[0],
            r.cmd(b'RCPT TO:<w@example.org>\r\n')[0]]


def message(inst, subject):
    """One message in a session of its own: the codes up to the dot's."""
    r, code = greet(inst)
    codes = [code] + to_rcpt(r) + [r.cmd(b'DATA\r\n')[0]]
    codes.append(r.cmd(b'Subject: %s\r\n\r\nw\r\n.\r\n' % subject)[0])
    r.cmd(b'QUIT\r\n')
    r.close()
    return codes


def pid_of(inst, name):
    return inst.status().get(name, (0, 0))[0]


def test_log_while_open(inst):
    """The lines of an open session are in the log once it is idle."""
    r, code = greet(inst)
    r.cmd(b'EHLO t.example\r\n')
    cport = r.s.getsockname()[1]
    m = wait_until(lambda: re.search(r'connect 127\.0\.0\.1:%d to ' % cport,
                                     inst.log()), 3)
    check('log: an idle open session\'s lines are in the log', m,
          inst.log_tail(5))
    r.cmd(b'QUIT\r\n')
    r.close()


def test_slow_data(inst):
    r, code = greet(inst)
    codes = to_rcpt(r) + [r.cmd(b'DATA\r\n')[0]]
    check('slow DATA: 354', codes == [250, 250, 250, 354], codes)
    r.send(b'Subject: slow\r\n\r\npart of a line')
    t0 = time.time()
    code, lines = r.reply()
    took = time.time() - t0
    check('slow DATA: 421 4.4.2 after data_timeout (3 s)',
          code == 421 and lines[0].startswith('4.4.2') and 2.5 < took < 10,
          (code, lines, took))
    r.close()


def test_drip_data(inst, mode):
    """DATA's data_timeout is for the whole message, as BDAT's: a client
    that sends a line every second (each read well within it) is cut off
    at data_timeout (3 s) too, and nothing is queued."""
    before = inst.log().count('result=queued')
    r, code = greet(inst)
    codes = to_rcpt(r) + [r.cmd(b'DATA\r\n')[0]]
    check('drip (%s): 354' % mode, codes == [250, 250, 250, 354], codes)
    r.send(b'Subject: drip\r\n\r\n')
    t0 = time.time()
    code = lines = None
    while code is None and time.time() - t0 < 10:
        try:
            r.send(b'a line\r\n')
        except OSError:
            break
        ready, _, _ = select.select([r.s], [], [], 1)
        if ready:
            code, lines = r.reply()
    took = time.time() - t0
    check('drip (%s): 421 4.4.2 at data_timeout (3 s) however the lines '
          'are spaced' % mode, code == 421 and lines[0].startswith('4.4.2')
          and 2 < took < 6, (code, lines, round(took, 1)))
    r.close()
    check('drip (%s): nothing queued' % mode,
          inst.log().count('result=queued') == before, inst.log_tail(5))


def cmd_stopped(pid, r, data):
    """Send data with daemon pid stopped; (code, lines, seconds) of the
    reply.  The daemon runs again afterwards, whatever happened."""
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        code, lines = r.cmd(data)
        return code, lines, time.time() - t0
    finally:
        os.kill(pid, signal.SIGCONT)


def test_policy_stopped(inst):
    pid = pid_of(inst, 'relay-policy')
    if not check('policy stopped: pid known', pid > 0, inst.status()):
        return
    r, code = greet(inst)
    r.cmd(b'EHLO t.example\r\n')
    code, lines, took = cmd_stopped(pid, r, b'MAIL FROM:<a@example.com>\r\n')
    check('policy stopped: MAIL 421 4.3.0 after smtp_timeout (2 s)',
          code == 421 and lines[0].startswith('4.3.0') and 1.5 < took < 10,
          (code, lines, took))
    check('policy stopped: the session ends', session_closed(r))
    r.close()
    codes = message(inst, b'after-policy')
    check('policy running again: a new session is served',
          codes == [220, 250, 250, 250, 354, 250], codes)


def test_queue_stopped(inst):
    pid = pid_of(inst, 'relay-queue')
    if not check('queue stopped: pid known', pid > 0, inst.status()):
        return
    r, code = greet(inst)
    codes = to_rcpt(r) + [r.cmd(b'DATA\r\n')[0]]
    code, lines, took = cmd_stopped(pid, r, b'Subject: stuck\r\n\r\nw\r\n.\r\n')
    check('queue stopped: 451 after data_timeout (3 s)',
          codes == [250, 250, 250, 354] and code == 451 and 2.5 < took < 12,
          (codes, code, lines, took))
    r.close()
    codes = message(inst, b'after-queue')
    check('queue running again: the next message is queued',
          codes == [220, 250, 250, 250, 354, 250], codes)


def test_reader_stalled(inst, mode):
    """Replies (HELP's, 90 bytes for 6) fill the client's window and
    both socket buffers, then a write of the session waits: it ends with
    the session's time, its end logged within 1.5 s of it."""
    a = socket.socket()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1200)
    a.settimeout(10)
    try:
        t0 = time.time()
        a.connect(('127.0.0.1', inst.port))
        a.recv(200)
        a.sendall(b'EHLO a.example\r\n')
        time.sleep(0.2)
        a.recv(4000)
        a.sendall(b'HELP\r\n' * 2700)  # 240 KB of replies, never read
        ended = wait_until(lambda: 'disconnect commands' in inst.log(), 25,
                           step=0.05)
        took = time.time() - t0
    finally:
        a.close()
    check('%s: a client that reads no reply ends at session_timeout' % mode,
          ended and 'timeout (session)' in inst.log() and took < 4 + 1.5,
          '%.1f s' % took)


def main():
    conf = {'smtp_timeout': 2, 'data_timeout': 3}
    with Instance(conf_overrides=conf) as inst:
        test_log_while_open(inst)
        test_slow_data(inst)
        test_drip_data(inst, 'many per worker')
        test_policy_stopped(inst)
        test_queue_stopped(inst)
    conf = {'smtp_timeout': 2, 'data_timeout': 3,
            'smtpd_sessions_per_worker': 1}
    with Instance(conf_overrides=conf) as inst:
        test_drip_data(inst, 'one per worker')
    for mode, extra in (('many per worker', {}),
                        ('one per worker', {'smtpd_sessions_per_worker': 1})):
        conf = dict({'smtpd_workers_min': 1, 'session_timeout': 4,
                     'smtp_timeout': 4}, **extra)
        with Instance(conf_overrides=conf) as inst:
            test_reader_stalled(inst, mode)
    finish()


if __name__ == '__main__':
    main()
