#!/usr/bin/python3
"""test_abuse_slots.py: one customer's devices cannot blind abuse
monitoring for the others, nor flood their admin.  abuse_accounts_max
= 16 (the least), abuse_spam_max = 2, real rspamd.  Customer "example"
trusts 127.0.0.0/24; sixteen of its devices (127.0.0.10 to .25) each
send 2 GTUBE: each an alerted account, which filled every slot before.
A customer holds at most a quarter of the slots: the rest of example's
devices count together as overflow:example (alerted, not dropped).
Then a device of customer "other" (127.0.1.5) sends 2 GTUBE: it is
followed and alerted, and its own admin hears of it.  example's admin
gets one mail however many of its accounts were alerted in those
seconds (one mail per admin address per few minutes, the accounts
named together)."""
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     smtp_session, wait_until)
from rspamd import GTUBE, Rspamd  # noqa: E402

RULES = """\
customer example licenses=1000 scan=score admin=admin@example.org
domain example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
customer other licenses=1000 scan=score admin=admin@other.org
domain other.com customer=other
rule other lan senders=domain auth=ip
ip other lan 127.0.1.0/24
"""


def send(inst, ip, sender, tag):
    msg = ('From: <%s>\r\nTo: <someone@example.org>\r\nSubject: %s\r\n'
           'Date: Sun, 06 Dec 2026 10:00:00 +0000\r\n'
           'Message-ID: <%s@dev.example.com>\r\n\r\n' % (sender, tag, tag)
           ).encode() + GTUBE + b'\r\n'
    with smtp_session(inst.port, source_ip=ip) as c:
        c.ehlo('pc.invalid')
        try:
            c.sendmail(sender, ['someone@example.org'], msg)
        except smtplib.SMTPResponseException as e:
            return e.smtp_code
    return 250


def mails_to(sink, admin):
    return [m for m in list(sink.messages) if admin in m.rcpts and
            b'abuse' in m.data]


def test_slots(inst, sink):
    codes = [send(inst, '127.0.0.%d' % (10 + i // 2), 'pc@example.com',
                  'ex%d' % i) for i in range(32)]
    check('example: 32 GTUBE relayed (scan=score)',
          codes == [250] * 32, codes)
    check('example: the devices beyond its share count as overflow:example',
          inst.wait_log(r'abuse: alert account=overflow:example '
                        r'customer=example reason=spam', 15),
          inst.log_tail())
    for i in range(2):
        send(inst, '127.0.1.5', 'pc@other.com', 'other%d' % i)
    check('the other customer\'s device is followed and alerted',
          inst.wait_log(r'abuse: alert account=device:127\.0\.1\.5 '
                        r'customer=other reason=spam spam_24h=2', 15),
          inst.log_tail())
    check('no signal dropped ("not followed")',
          'not followed' not in inst.log(), inst.log_tail())
    check('the other customer\'s admin is mailed', wait_until(
        lambda: mails_to(sink, 'admin@other.org'), 30), inst.log_tail())
    r = inst.relayctl('abuse', 'list')
    n = len(re.findall(r'customer=example ', r.stdout))
    check('relayctl abuse list: example holds 4 accounts and its overflow',
          n == 5 and 'overflow:example' in r.stdout, r.stdout)
    time.sleep(3)
    mails = mails_to(sink, 'admin@example.org')
    check('example\'s admin: one mail, not one per account', len(mails) == 1,
          len(mails))


def main():
    with Rspamd() as rsp, Sink() as sink:
        with Instance(sink=sink, rules_text=RULES,
                      conf_overrides={'scan_rspamd': rsp.addr,
                                      'abuse_spam_max': 2,
                                      'abuse_accounts_max': 16}) as inst:
            test_slots(inst, sink)
    finish()


if __name__ == '__main__':
    main()
