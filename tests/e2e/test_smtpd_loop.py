#!/usr/bin/python3
"""test_smtpd_loop.py: mail loop detection (RFC 5321 6.3) by counting
the Received: header fields as relay-smtpd reads DATA.

Shows, with the default hops_max = 100: a message that already carries
100 Received: fields is queued and delivered; one with 101 is refused
554 5.4.6 after its final dot, nothing is queued or delivered, and the
session goes on (the next message is accepted); Received: lines in the
body do not count."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, finish  # noqa: E402
from certs import check, run_steps, wait_tag  # noqa: E402

FROM = 'sender@example.com'


def message(tag, hops, body_hops=0):
    head = b''.join(b'Received: from hop%d.example by hop%d.example; '
                    b'Thu, 1 Jan 2026 00:00:00 +0000\r\n' % (i, i + 1)
                    for i in range(hops))
    body = b'Received: in the body\r\n' * body_hops
    return (head + b'From: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@loop.test>'
            b'\r\n\r\n' % (FROM.encode(), tag.encode(), tag.encode())
            + body + b'hello\r\n.\r\n')


def send(r, tag, hops, body_hops=0):
    r.cmd(b'MAIL FROM:<%s>\r\n' % FROM.encode())
    r.cmd(b'RCPT TO:<to@example.org>\r\n')
    code, _ = r.cmd(b'DATA\r\n')
    if code != 354:
        return code, []
    return r.cmd(message(tag, hops, body_hops))


def test_loop(inst, sink):
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO c.example.com\r\n')
    code, lines = send(r, 'hops100', 100)
    check('100 Received: fields: queued (250)', code == 250, (code, lines))
    code, lines = send(r, 'hops101', 101)
    check('101 Received: fields: 554 5.4.6 (mail loop)',
          code == 554 and lines and lines[0].startswith('5.4.6'), (code, lines))
    code, lines = send(r, 'bodyhops', 1, body_hops=200)
    check('Received: lines in the body do not count: queued', code == 250,
          (code, lines))
    r.cmd(b'QUIT\r\n')
    r.close()
    check('the 100-hop message is delivered', wait_tag(sink, 'hops100') is not None)
    check('the body-hops message is delivered', wait_tag(sink, 'bodyhops') is not None)
    time.sleep(1)
    check('the looping message is not', not any(
        b'<hops101@loop.test>' in m.data for m in list(sink.messages)))
    log = inst.log()
    check('logged as result=loop, queued nothing', 'result=loop' in log and
          log.count('result=queued') == 2, log[-2000:])


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        run_steps(lambda: test_loop(inst, sink))
    finish()


if __name__ == '__main__':
    main()
