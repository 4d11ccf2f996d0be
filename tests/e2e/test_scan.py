#!/usr/bin/python3
"""test_scan.py: the content scan with a real rspamd on loopback.
Customer "example" (127.0.0.1) has scan=reject, "scored" (127.0.0.2)
scan=score, "plain" (127.0.0.3) no scan= (relay.conf's scan_default,
off).  GTUBE from example is refused with 550 5.7.1 and never queued;
a clean message passes; GTUBE from scored is relayed with its score
logged; plain's GTUBE is not scanned.  Then the scanner stops: under
scan_fail = defer the client hears 451 and nothing is queued (the
client keeps the message: nothing lost) and the same message goes
through once rspamd is back; under scan_fail = pass it is relayed
unscanned; a scanner that never answers is cut off at scan_timeout."""
import os
import re
import smtplib
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, smtp_session,  # noqa: E402
                     wait_until)
from rspamd import GTUBE, Rspamd  # noqa: E402

RULES = """\
customer example licenses=1000 scan=reject
domain example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.1/32
customer scored licenses=1000 scan=score
domain scored.example customer=scored
rule scored lan senders=domain auth=ip
ip scored lan 127.0.0.2/32
customer plain licenses=1000
domain plain.example customer=plain
rule plain lan senders=domain auth=ip
ip plain lan 127.0.0.3/32
"""


def message(sender, tag, body):
    return ('From: Sender <%s>\r\nTo: Someone <someone@example.org>\r\n'
            'Subject: report %s\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n'
            'Message-ID: <%s@mail.example.com>\r\nMIME-Version: 1.0\r\n'
            'Content-Type: text/plain; charset=us-ascii\r\n\r\n'
            % (sender, tag, tag)).encode() + body + b'\r\n'


CLEAN = (b'Hello,\r\n\r\nthe nightly backup finished at 02:14 without errors.'
         b'\r\n\r\nRegards,\r\nthe backup server\r\n')


def send(inst, ip, sender, tag, body):
    """(code, text) of the reply to the message's final dot."""
    with smtp_session(inst.port, source_ip=ip) as c:
        c.ehlo('host.' + sender.split('@')[1])
        c.mail(sender)
        c.rcpt('someone@example.org')
        try:
            code, text = c.data(message(sender, tag, body))
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error
        return code, text.decode(errors='replace')


def arrived(sink, tag):
    return [m for m in list(sink.messages)
            if ('Message-ID: <%s@' % tag).encode() in m.data]


def test_running(inst, sink):
    code, text = send(inst, '127.0.0.1', 'a@example.com', 'gtube1', GTUBE)
    check('scan=reject: GTUBE refused with 550 5.7.1',
          code == 550 and text.startswith('5.7.1') and 'spam' in text,
          '%s %s' % (code, text))
    code, text = send(inst, '127.0.0.1', 'a@example.com', 'clean1', CLEAN)
    check('scan=reject: a clean message is accepted', code == 250,
          '%s %s' % (code, text))
    code, text = send(inst, '127.0.0.2', 'a@scored.example', 'gtube2', GTUBE)
    check('scan=score: GTUBE is accepted', code == 250, '%s %s' % (code, text))
    code, text = send(inst, '127.0.0.3', 'a@plain.example', 'gtube3', GTUBE)
    check('no scan=: scan_default off, GTUBE accepted', code == 250,
          '%s %s' % (code, text))
    wait_until(lambda: all(arrived(sink, t) for t in
                           ('clean1', 'gtube2', 'gtube3')), 30)
    for tag in ('clean1', 'gtube2', 'gtube3'):
        check('%s delivered' % tag, len(arrived(sink, tag)) == 1)
    check('the refused GTUBE never reached the sink',
          not arrived(sink, 'gtube1'))
    log = inst.log()
    check('log: the refusal with its score and symbols',
          inst.wait_log(r'scan=spam score=\S+ required=15 action=reject '
                        r'customer=example symbols=\S*GTUBE', 5),
          inst.log_tail())
    check('log: the scored message', inst.wait_log(
        r'scan=spam-scored .*customer=scored symbols=\S*GTUBE', 5))
    check('log: the clean one', inst.wait_log(
        r'scan=clean .*customer=example', 5))
    check('log: plain was not scanned',
          not re.search(r'scan=\S+ .*customer=plain', log))


def test_stopped(inst, sink, rsp):
    rsp.stop()
    code, text = send(inst, '127.0.0.1', 'a@example.com', 'down1', CLEAN)
    check('scanner stopped, scan_fail=defer: 451 4.3.0',
          code == 451 and text.startswith('4.3.0'), '%s %s' % (code, text))
    check('deferred: nothing in the queue', inst.queue_count() == 0,
          '%d in new/' % inst.queue_count())
    check('log: why', inst.wait_log(r'scan=failed: .*scan_fail = defer', 5))
    check('relay-smtpd log: relay-queue answered an error',
          inst.wait_log(r'relay-smtpd\[\d+\]: warning: 127\.0\.0\.1: '
                        r'relay-queue answered an error: status=111 '
                        r'reason=scan ', 5), inst.log_tail())
    rsp.start()
    code, text = send(inst, '127.0.0.1', 'a@example.com', 'down1', CLEAN)
    check('scanner back: the retried message is accepted', code == 250,
          '%s %s' % (code, text))
    check('the retried message arrives once',
          wait_until(lambda: len(arrived(sink, 'down1')) == 1, 30))


def test_pass(sink, addr):
    with Instance(sink=sink, rules_text=RULES,
                  conf_overrides={'scan_rspamd': addr, 'scan_fail': 'pass',
                                  'scan_timeout': 1}) as inst:
        code, text = send(inst, '127.0.0.1', 'a@example.com', 'pass1', GTUBE)
        check('scan_fail=pass, scanner gone: accepted unscanned',
              code == 250, '%s %s' % (code, text))
        check('scan_fail=pass: delivered',
              wait_until(lambda: arrived(sink, 'pass1'), 30))
        check('log: the failure', inst.wait_log(
            r'scan=failed: .*scan_fail = pass', 5), inst.log_tail())


def silent_server():
    """A listener that accepts and never answers; (port, stop)."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    s.listen(8)
    held, done = [], threading.Event()

    def serve():
        s.settimeout(0.2)
        while not done.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()

    def stop():
        done.set()
        t.join()
        for c in held:
            c.close()
        s.close()
    return s.getsockname()[1], stop


def test_timeout(sink):
    port, stop = silent_server()
    try:
        with Instance(sink=sink, rules_text=RULES,
                      conf_overrides={'scan_rspamd': '127.0.0.1:%d' % port,
                                      'scan_timeout': 2}) as inst:
            t0 = time.time()
            code, text = send(inst, '127.0.0.1', 'a@example.com', 'slow1',
                              CLEAN)
            took = time.time() - t0
            check('a scanner that never answers: 451 after scan_timeout',
                  code == 451 and 1.5 < took < 10,
                  '%s %s after %.1fs' % (code, text, took))
            check('log: no answer within scan_timeout', inst.wait_log(
                r'scan=failed: .*no answer within scan_timeout', 5))
    finally:
        stop()


def main():
    with Rspamd() as rsp, Sink() as sink:
        with Instance(sink=sink, rules_text=RULES,
                      conf_overrides={'scan_rspamd': rsp.addr}) as inst:
            test_running(inst, sink)
            test_stopped(inst, sink, rsp)
        addr = rsp.addr
        rsp.stop()
        test_pass(sink, addr)
        test_timeout(sink)
    finish()


if __name__ == '__main__':
    main()
