#!/usr/bin/python3
"""test_abuse_sender.py: abuse monitoring's account for a registered
sender without AUTH.  Customer "example" (scan=score, admin=) has an
IP-trusted device dev1 (127.0.0.1) and a registered user
boss@example.com (users.cdb).  boss sends GTUBE from dev1 without AUTH
past abuse_spam_max: relay-policy's admitted info field "registered"
makes the account user:boss@example.com (in that case, however the
client spells it), not the device.  With
abuse_grace=0 the alert turns into a suspension at the next tick:
boss's MAIL gets 550 5.7.1 from dev1, while printer@example.com (not
registered) on the same device keeps relaying, and the device's own
account is never alerted."""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     smtp_session, wait_until)
from rspamd import GTUBE, Rspamd  # noqa: E402

HASH = '$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
RULES = """\
customer example licenses=1000 scan=score admin=admin@example.org
domain example.com customer=example
user boss@example.com hash=%s customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
""" % HASH
BOSS = 'user:boss@example.com'
DEV1 = 'device:127.0.0.1/dev1.example.com'


def send(inst, sender, tag, body=b'The toner is low.'):
    """(code, text) of the refusal, or (250, '') when accepted."""
    msg = ('From: <%s>\r\nTo: <someone@example.org>\r\nSubject: %s\r\n'
           'Date: Sun, 06 Dec 2026 10:00:00 +0000\r\n'
           'Message-ID: <%s@dev.example.com>\r\n\r\n' % (sender, tag, tag)
           ).encode() + body + b'\r\n'
    with smtp_session(inst.port, source_ip='127.0.0.1') as c:
        c.ehlo('dev1.example.com')
        try:
            c.sendmail(sender, ['someone@example.org'], msg)
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error.decode(errors='replace')
    return 250, ''


def test_registered_sender(inst, sink):
    # one account however the sender is spelled (users.cdb's case)
    for i, sender in enumerate(('boss@example.com', 'Boss@Example.COM',
                                'boss@example.com')):
        code, text = send(inst, sender, 'spam%d' % i, GTUBE)
        check('%s GTUBE %d from dev1: relayed (scan=score)' % (sender, i),
              code == 250, '%s %s' % (code, text))
    check('log: alert for the registered sender, not the device',
          inst.wait_log(r'abuse: alert account=' + re.escape(BOSS) +
                        r' customer=example reason=spam spam_24h=3', 15),
          inst.log_tail())
    check('log: suspended (abuse_grace=0) as the sender', inst.wait_log(
        r'abuse: suspended account=' + re.escape(BOSS) +
        r' customer=example reason=spam', 15), inst.log_tail())
    check('the device account is never alerted',
          'account=' + DEV1 not in inst.log(), inst.log_tail())
    ok = wait_until(lambda: send(inst, 'boss@example.com',
                                 'blocked')[0] == 550, 10)
    code, text = send(inst, 'boss@example.com', 'blocked')
    check('boss suspended: 550 5.7.1 from dev1',
          ok and code == 550 and text.startswith('5.7.1') and
          'suspended' in text, '%s %s' % (code, text))
    code, text = send(inst, 'printer@example.com', 'printerok')
    check('another sender on the same device keeps relaying', code == 250,
          '%s %s' % (code, text))
    check('printer delivered', wait_until(
        lambda: any(b'Subject: printerok' in m.data for m in sink.messages),
        30))


def main():
    with Rspamd() as rsp, Sink() as sink:
        with Instance(sink=sink, rules_text=RULES,
                      conf_overrides={'scan_rspamd': rsp.addr,
                                      'abuse_spam_max': 3,
                                      'abuse_grace': 0}) as inst:
            test_registered_sender(inst, sink)
    finish()


if __name__ == '__main__':
    main()
