#!/usr/bin/python3
"""test_abuse_device.py: one account per device, whatever it types in
HELO (lib/abuse.h abuse_device), with a real rspamd.  Customer "example"
(scan=score, admin=, domains example.com and shop.example.com) trusts
127.0.0.0/24 with senders=domain, so a device there may present any
HELO.  abuse_spam_max=3 and abuse_grace=0: the third spam verdict
alerts, the next tick suspends.

- 127.0.0.1 names the customer in HELO, spelled three ways
  (example.com, EXAMPLE.COM, Example.Com.): one account
  device:127.0.0.1/example.com, alerted and suspended; then every HELO
  from it is refused but another domain of the customer (another device
  by the issue's definition), and the device at 127.0.0.2 that presents
  example.com keeps relaying.
- 127.0.0.3 presents a new made-up HELO each time (the customer found by
  the sender's domain): one account device:127.0.0.3, suspended; then
  even with the customer's domain in HELO it is refused.
- 127.0.0.4 presents a 210-byte HELO of '#' and a 202-byte one of
  punctuation: counted (device:127.0.0.4), never dropped.
- An abuse/suspended line of the old form (the HELO as typed, capitals)
  stays in force after the restart of an upgrade."""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     smtp_session, wait_until)
from rspamd import GTUBE, Rspamd  # noqa: E402

RULES = """\
customer example licenses=1000 scan=score admin=admin@example.org
domain example.com customer=example
domain shop.example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
"""
OLD_LINE = ('account=device:127.0.0.5/Old.Example.COM customer=example '
            'state=suspended reason=spam spam_24h=3 scanned_24h=3 '
            'delivered_24h=0 bounced_24h=0 rejected_24h=0 '
            'baseline_per_hour=0.00 since=1 alerted=1 suspended=1 '
            'acked_by=- samples=- symbols=GTUBE\n')


def send(inst, ip, helo, tag, body=b'The toner is low.'):
    """(code, text) of the refusal, or (250, '') when accepted."""
    msg = ('From: <printer@example.com>\r\nTo: <someone@example.org>\r\n'
           'Subject: %s\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n'
           'Message-ID: <%s@dev.example.com>\r\n\r\n' % (tag, tag)
           ).encode() + body + b'\r\n'
    with smtp_session(inst.port, source_ip=ip) as c:
        c.ehlo(helo)
        try:
            c.sendmail('printer@example.com', ['someone@example.org'], msg)
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error.decode(errors='replace')
    return 250, ''


def spam(inst, ip, helos, tag):
    for i, helo in enumerate(helos):
        code, text = send(inst, ip, helo, '%s%d' % (tag, i), GTUBE)
        check('%s %s GTUBE %d: relayed (scan=score)' % (ip, helo[:20], i),
              code == 250, '%s %s' % (code, text))


def suspended_for(inst, account):
    return inst.wait_log(r'abuse: suspended account=' + re.escape(account) +
                         r' customer=example reason=spam spam_24h=3', 15)


def refused(inst, ip, helo, tag):
    ok = wait_until(lambda: send(inst, ip, helo, tag)[0] == 550, 10)
    code, text = send(inst, ip, helo, tag)
    return ok and code == 550 and 'suspended' in text, '%s %s' % (code, text)


def test_named(inst):
    spam(inst, '127.0.0.1', ('example.com', 'EXAMPLE.COM', 'Example.Com.'),
         'named')
    acct = 'device:127.0.0.1/example.com'
    check('HELO spelled three ways: one account, alerted', inst.wait_log(
        r'abuse: alert account=' + re.escape(acct) + r' customer=example '
        r'reason=spam spam_24h=3 ', 15), inst.log_tail())
    check('and suspended (abuse_grace=0)', suspended_for(inst, acct),
          inst.log_tail())
    for helo in ('example.com', 'EXAMPLE.COM', 'example.com.',
                 'anything.invalid', '#' * 210):
        ok, why = refused(inst, '127.0.0.1', helo, 'after')
        check('suspended device, HELO %s: 550 5.7.1' % helo[:20], ok, why)
    code, text = send(inst, '127.0.0.1', 'shop.example.com', 'shop')
    check('another domain of the customer at that address (another '
          'device): relays', code == 250, '%s %s' % (code, text))
    code, text = send(inst, '127.0.0.2', 'example.com', 'dev2')
    check('the device at 127.0.0.2 keeps relaying', code == 250,
          '%s %s' % (code, text))


def test_free_helo(inst):
    spam(inst, '127.0.0.3', ('x0.invalid', 'x1.invalid', 'X2.INVALID'),
         'free')
    check('made-up HELOs: one account by the address, suspended',
          suspended_for(inst, 'device:127.0.0.3'), inst.log_tail())
    for helo in ('x9.invalid', 'example.com'):
        ok, why = refused(inst, '127.0.0.3', helo, 'freeafter')
        check('address suspended, HELO %s: 550 5.7.1' % helo, ok, why)


def test_long_helo(inst):
    spam(inst, '127.0.0.4', ('#' * 210, '[' + '!' * 200 + ']', '#' * 210),
         'long')
    check('long odd HELOs: counted, not dropped',
          suspended_for(inst, 'device:127.0.0.4'), inst.log_tail())
    check('nothing dropped for a key that does not fit',
          'not followed' not in inst.log(), inst.log_tail())


def test_old_suspension(inst):
    """An upgrade: the files of before, read at start."""
    inst.stop()
    st = os.stat(inst.path('abuse'))
    for name, text in (('abuse/accounts', 'relaybox-abuse 1\n' + OLD_LINE),
                       ('abuse/suspended', 'device 127.0.0.5/Old.Example.COM\n')):
        with open(inst.path(name), 'w') as f:
            f.write(text)
        os.chown(inst.path(name), st.st_uid, st.st_gid)
    inst.start()
    ok, why = refused(inst, '127.0.0.5', 'Old.Example.COM', 'old')
    check('a suspension of the old form stays in force', ok, why)


def main():
    with Rspamd() as rsp, Sink() as sink:
        with Instance(sink=sink, rules_text=RULES,
                      conf_overrides={'scan_rspamd': rsp.addr,
                                      'abuse_spam_max': 3,
                                      'abuse_grace': 0}) as inst:
            test_named(inst)
            test_free_helo(inst)
            test_long_helo(inst)
            test_old_suspension(inst)
    finish()


if __name__ == '__main__':
    main()
