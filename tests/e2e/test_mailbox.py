#!/usr/bin/python3
"""test_mailbox.py: one mailbox syntax for every part (lib/addr.h).
A quoted local part holding '<', '>' or a space is refused where it is
given, with a 5xx at MAIL (5.1.7) or RCPT (5.1.3), never 250 at MAIL
and then 451 until expiry in the queue; nothing of it is queued, and
the log has no "cannot read the queue file"."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish  # noqa: E402

SENDERS = (b'"a<b>"@example.com', b'"a b"@example.com', b'"a>b"@example.com')
RECIPIENTS = (b'"a<b>"@example.org', b'"x y"@example.org')


def mail_refused(inst, sender):
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO client.example.com\r\n')
    code, text = r.cmd(b'MAIL FROM:<' + sender + b'>\r\n')
    joined = ' '.join(text)
    check('MAIL FROM:<%s>: 553 5.1.7' % sender.decode(),
          code == 553 and joined.startswith('5.1.7'), '%s %s' % (code, joined))
    if code == 250:  # today's bug: carry on, to show where it ends
        r.cmd(b'RCPT TO:<x@example.org>\r\n')
        if r.cmd(b'DATA\r\n')[0] == 354:
            r.cmd(b'Subject: x\r\n\r\nx\r\n.\r\n')
    r.close()


def rcpt_refused(inst, rcpt):
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO client.example.com\r\n')
    r.cmd(b'MAIL FROM:<sender@example.com>\r\n')
    code, text = r.cmd(b'RCPT TO:<' + rcpt + b'>\r\n')
    joined = ' '.join(text)
    check('RCPT TO:<%s>: 553 5.1.3' % rcpt.decode(),
          code == 553 and joined.startswith('5.1.3'), '%s %s' % (code, joined))
    r.close()


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        for s in SENDERS:
            mail_refused(inst, s)
        for rc in RECIPIENTS:
            rcpt_refused(inst, rc)
        time.sleep(1)
        check('nothing queued', inst.queue_count() == 0,
              inst.relayctl('queue', 'list').stdout)
        check('no 451 for an unreadable queue file',
              'cannot read the queue file' not in inst.log(),
              inst.log_tail())
    finish()


if __name__ == '__main__':
    main()
