#!/usr/bin/python3
"""test_abuse_sender.py: abuse monitoring's accounts for a registered
sender without AUTH.  Customer "example" (scan=score, admin=) has an
IP-trusted device dev1 (127.0.0.1, HELO dev1.example.com, a domain of
the customer), a second device dev2 (127.0.0.2) and a registered user
boss@example.com (users.cdb) who sends with AUTH from a laptop outside
the trusted range.  dev1 sends GTUBE with boss's address as the
envelope sender, without AUTH, past abuse_spam_max (abuse_grace=0: the
alert turns into a suspension at the next tick).  The envelope sender
is the client's word there, so the evidence counts against the device
(the real source) and against sender:boss@example.com, never against
boss's AUTH account (user:):
- dev1 is alerted and suspended: any sender from it gets 550 5.7.1
  (this test used to assert that the device went on with another
  sender: that left the compromised device relaying);
- sender:boss@example.com, whose evidence all came from dev1, is not
  alerted too (one event, one alert: it was, a second alert for the
  same messages), so boss's address without AUTH relays from dev2;
- boss with AUTH from the laptop relays;
- releasing dev1 clears sender:boss@example.com too (the same evidence:
  it does not alert once dev1 no longer carries it).
Then the registered clerk@example.com sends GTUBE from dev5 and from
dev6, two each, neither device reaching abuse_spam_max: the address is
what they share, so sender:clerk@example.com alone is alerted and
suspended, and clerk's address without AUTH is refused from dev2."""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     smtp_session, wait_until)
from certs import TestCerts  # noqa: E402
from rspamd import GTUBE, Rspamd  # noqa: E402

HASH = '$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
PASSWORD = 'secret1'
RULES = """\
customer example licenses=1000 scan=score admin=admin@example.org
domain example.com customer=example
domain dev1.example.com customer=example
user boss@example.com hash=%s customer=example
user clerk@example.com hash=%s customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
rule example laptops senders=registered auth=smtp
""" % (HASH, HASH)
SENDER = 'sender:boss@example.com'
USER = 'user:boss@example.com'
DEV1 = 'device:127.0.0.1/dev1.example.com'


def message(sender, tag, body):
    return ('From: <%s>\r\nTo: <someone@example.org>\r\nSubject: %s\r\n'
            'Date: Sun, 06 Dec 2026 10:00:00 +0000\r\n'
            'Message-ID: <%s@dev.example.com>\r\n\r\n' % (sender, tag, tag)
            ).encode() + body + b'\r\n'


def send(inst, sender, tag, body=b'The toner is low.', ip='127.0.0.1',
         helo='dev1.example.com'):
    """(code, text) of the refusal, or (250, '') when accepted."""
    with smtp_session(inst.port, source_ip=ip) as c:
        c.ehlo(helo)
        try:
            c.sendmail(sender, ['someone@example.org'],
                       message(sender, tag, body))
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error.decode(errors='replace')
    return 250, ''


def send_auth(inst, certs, tag):
    """boss from the laptop (not a trusted address), AUTH inside TLS."""
    with smtp_session(inst.port, source_ip='127.0.1.9') as c:
        c.ehlo('laptop')
        c.starttls(context=certs.client_context())
        c.ehlo('laptop')
        c.login('boss@example.com', PASSWORD)
        try:
            c.sendmail('boss@example.com', ['someone@example.org'],
                       message('boss@example.com', tag, b'Quarterly.'))
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error.decode(errors='replace')
    return 250, ''


def test_registered_sender(inst, certs):
    code, text = send_auth(inst, certs, 'before')
    check('boss with AUTH from the laptop relays', code == 250,
          '%s %s' % (code, text))
    # one account however the sender is spelled (users.cdb's case)
    for i, sender in enumerate(('boss@example.com', 'Boss@Example.COM',
                                'boss@example.com')):
        code, text = send(inst, sender, 'spam%d' % i, GTUBE)
        check('%s GTUBE %d from dev1: relayed (scan=score)' % (sender, i),
              code == 250, '%s %s' % (code, text))
    check('log: %s alerted' % DEV1, inst.wait_log(
        r'abuse: alert account=' + re.escape(DEV1) +
        r' customer=example reason=spam spam_24h=3', 15), inst.log_tail())
    check('log: %s suspended (abuse_grace=0)' % DEV1, inst.wait_log(
        r'abuse: suspended account=' + re.escape(DEV1) +
        r' customer=example reason=spam', 15), inst.log_tail())
    check('%s counted the same messages' % SENDER, wait_until(
        lambda: re.search(r'^ok +' + re.escape(SENDER) + r' .*spam_24h=3 ',
                          inst.relayctl('abuse', 'list').stdout, re.M), 10),
        inst.relayctl('abuse', 'list').stdout)
    check('%s not alerted: its evidence is all dev1\'s' % SENDER,
          'account=' + SENDER not in inst.log(), inst.log_tail())
    check("boss's AUTH account is never blamed",
          'account=' + USER not in inst.log(), inst.log_tail())
    ok = wait_until(lambda: send(inst, 'printer@example.com',
                                 'blocked')[0] == 550, 10)
    code, text = send(inst, 'printer@example.com', 'blocked')
    check('dev1 suspended: another sender from it gets 550 5.7.1',
          ok and code == 550 and text.startswith('5.7.1') and
          'suspended' in text, '%s %s' % (code, text))
    code, text = send(inst, 'boss@example.com', 'forged', ip='127.0.0.2',
                      helo='dev2.invalid')
    check("boss's address without AUTH from dev2 relays (dev1 was blamed)",
          code == 250, '%s %s' % (code, text))
    code, text = send(inst, 'printer@example.com', 'dev2ok', ip='127.0.0.2',
                      helo='dev2.invalid')
    check("dev2's own sender relays", code == 250, '%s %s' % (code, text))
    code, text = send_auth(inst, certs, 'after')
    check('boss with AUTH from the laptop still relays', code == 250,
          '%s %s' % (code, text))
    r = inst.relayctl('abuse', 'release', DEV1)
    check('release dev1: done', r.returncode == 0, r.stdout + r.stderr)
    check('the sender account dev1 carried is cleared with it', wait_until(
        lambda: re.search(r'^ok +' + re.escape(SENDER) + r' .*spam_24h=0 ',
                          inst.relayctl('abuse', 'list').stdout, re.M), 10),
        inst.relayctl('abuse', 'list').stdout)
    check('%s still never alerted' % SENDER,
          'account=' + SENDER not in inst.log(), inst.log_tail())


def test_sender_of_two_devices(inst):
    clerk = 'clerk@example.com'
    for ip in ('127.0.0.5', '127.0.0.6'):
        for i in range(2):
            code, text = send(inst, clerk, 'c%s-%d' % (ip, i), GTUBE, ip=ip,
                              helo='dev.invalid')
            check('clerk GTUBE %d from %s: relayed' % (i, ip), code == 250,
                  '%s %s' % (code, text))
    check('sender:clerk alerted (spam from two devices)', inst.wait_log(
        r'abuse: alert account=sender:clerk@example\.com customer=example '
        r'reason=spam spam_24h=4', 15), inst.log_tail())
    check('sender:clerk suspended', inst.wait_log(
        r'abuse: suspended account=sender:clerk@example\.com ', 15),
        inst.log_tail())
    check('neither device alerted (2 each, under abuse_spam_max)',
          not re.search(r'account=device:127\.0\.0\.[56]', inst.log()),
          inst.log_tail())
    wait_until(lambda: send(inst, clerk, 'clerk2', ip='127.0.0.2',
                            helo='dev2.invalid')[0] == 550, 10)
    code, text = send(inst, clerk, 'clerk3', ip='127.0.0.2',
                      helo='dev2.invalid')
    check("clerk's address without AUTH from dev2: 550 5.7.1",
          code == 550 and text.startswith('5.7.1') and
          'Sender <clerk@example.com>: the account is suspended' in text,
          '%s %s' % (code, text))


def main():
    with TestCerts() as certs, Rspamd() as rsp, Sink() as sink:
        conf = certs.conf()
        conf.update({'scan_rspamd': rsp.addr, 'abuse_spam_max': 3,
                     'abuse_grace': 0})
        with Instance(sink=sink, rules_text=RULES,
                      conf_overrides=conf) as inst:
            test_registered_sender(inst, certs)
            test_sender_of_two_devices(inst)
    finish()


if __name__ == '__main__':
    main()
