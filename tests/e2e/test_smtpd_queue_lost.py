#!/usr/bin/python3
"""test_smtpd_queue_lost.py: when relay-smtpd cannot hand a message to
relay-queue, the client hears which of the ways it went wrong, never a
word about a write error that did not happen, and relay-smtpd's log
says the same:

- queue.sock gone (relay-queue not running, restarting, or its socket
  removed): DATA and a first BDAT chunk are answered
  "451 4.3.2 Queue service unavailable, try again later", and the log
  says "relay-queue unreachable: connect ...";
- relay-queue killed while a message of 200 KiB is under way (part of it
  already sent to it): the final dot is answered
  "451 4.3.0 Queue service went away during the message, nothing
  queued, ..." and the log says "relay-queue hung up mid-message";
  relay-master starts relay-queue again and the next message is queued.

Nothing is delivered that was answered 451.  Prints PASS/FAIL lines."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish, wait_until  # noqa: E402

UNAVAILABLE = '4.3.2 Queue service unavailable, try again later'
WENT_AWAY = '4.3.0 Queue service went away during the message'


def to_rcpt(inst, r):
    r.reply()
    r.cmd(b'EHLO t.example\r\n')
    r.cmd(b'MAIL FROM:<a@example.com>\r\n')
    return r.cmd(b'RCPT TO:<w@example.org>\r\n')[0]


def one_message(inst, subject):
    """A whole small message over DATA: the dot's reply (code, text)."""
    r = Raw(inst.port, timeout=30)
    try:
        to_rcpt(inst, r)
        code, text = r.cmd(b'DATA\r\n')
        if code != 354:
            return code, text[0]
        code, text = r.cmd(b'Subject: %s\r\n\r\nbody\r\n.\r\n' % subject)
        r.cmd(b'QUIT\r\n')
        return code, text[0]
    finally:
        r.close()


def socket_gone(sink):
    with Instance(sink=sink) as inst:
        sock = inst.path('run/queue.sock')
        os.rename(sock, sock + '.away')
        try:
            code, text = one_message(inst, b'gone')
            check('queue.sock gone: DATA answered 451 4.3.2 unavailable',
                  code == 451 and text == UNAVAILABLE, '%s %s' % (code, text))
            r = Raw(inst.port, timeout=30)
            try:
                to_rcpt(inst, r)
                code, text = r.cmd(b'BDAT 6 LAST\r\nx: y\r\n')
                check('queue.sock gone: BDAT answered 451 4.3.2 unavailable',
                      code == 451 and text[0] == UNAVAILABLE,
                      '%s %s' % (code, text))
                check('and the session goes on',
                      r.cmd(b'NOOP\r\n')[0] == 250)
            finally:
                r.close()
            check('relay-smtpd logs the connect error',
                  inst.wait_log(r'relay-smtpd\[\d+\]: warning: relay-queue '
                                r'unreachable: connect \S+queue\.sock: No '
                                r'such file', timeout=10), inst.log_tail())
            check('and the message it did not queue',
                  inst.wait_log(r'relay-smtpd\[\d+\]: warning: 127\.0\.0\.1: '
                                r'not queued: relay-queue unreachable',
                                timeout=10), inst.log_tail())
            check('no "write error" said', 'write error' not in inst.log(),
                  inst.log_tail())
        finally:
            os.rename(sock + '.away', sock)
        code, text = one_message(inst, b'back')
        check('queue.sock back: queued', code == 250, '%s %s' % (code, text))
        check('only that one delivered', sink.wait_for(1, 30) and
              len(sink.messages) == 1, len(sink.messages))


def cut_message(inst, wait_gone):
    """A 220 KB message with relay-queue killed after its first half: the
    reply to its dot.  wait_gone: the rest is sent once relay-master has
    seen relay-queue die (relay-smtpd's writes fail), else at once (its
    writes may still land in the dying socket, unread)."""
    r = Raw(inst.port, timeout=60)
    try:
        to_rcpt(inst, r)
        check('DATA: 354', r.cmd(b'DATA\r\n')[0] == 354)
        line = b'x' * 76 + b'\r\n'
        r.send(b'Subject: cut\r\n\r\n' + line * 1400)  # ~110 KB
        # relay-smtpd sends it on in 16 KiB frames as it reads it
        time.sleep(1)
        pids = inst.pids(['relay-queue'])
        check('relay-queue found', len(pids) == 1, pids)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        if wait_gone:
            wait_until(lambda: not inst.pids(['relay-queue']) or
                       inst.pids(['relay-queue']) != pids, 10)
        r.send(line * 1400 + b'.\r\n')
        code, text = r.reply()
        check('the session goes on', r.cmd(b'NOOP\r\n')[0] == 250)
        return code, text[0]
    finally:
        r.close()


def killed_mid_message(sink):
    with Instance(sink=sink) as inst:
        for wait_gone in (False, True):
            code, text = cut_message(inst, wait_gone)
            check('relay-queue killed mid-message (wait_gone=%s): 451 4.3.0 '
                  'went away' % wait_gone,
                  code == 451 and text.startswith(WENT_AWAY),
                  '%s %s' % (code, text))
            # relay-master starts it again (at most once a second)
            t0 = time.time()
            queued = wait_until(lambda: one_message(inst, b'after')[0] == 250,
                                30, step=0.5)
            check('relay-queue restarted: the next message is queued',
                  queued, inst.log_tail())
            print('# queued again after %.1f s' % (time.time() - t0))
        check('relay-smtpd logs that relay-queue hung up',
              inst.wait_log(r'relay-smtpd\[\d+\]: warning: relay-queue hung '
                            r'up mid-message: ', timeout=10), inst.log_tail())
        check('and the message it did not queue',
              inst.wait_log(r'relay-smtpd\[\d+\]: warning: 127\.0\.0\.1: not '
                            r'queued: relay-queue hung up mid-message',
                            timeout=10), inst.log_tail())
        check('no message given up as maybe queued',
              'recipients stay counted' not in inst.log(), inst.log_tail())
        check('only those two delivered', sink.wait_for(2, 30) and
              len(sink.messages) == 2 and
              all(b'Subject: after' in m.data for m in sink.messages),
              [m.data[:200] for m in sink.messages])


def main():
    with Sink() as sink:
        socket_gone(sink)
    with Sink() as sink:
        killed_mid_message(sink)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
