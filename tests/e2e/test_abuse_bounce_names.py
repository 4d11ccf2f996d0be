#!/usr/bin/python3
"""test_abuse_bounce_names.py: hard bounces at recipient domains in
UTF-8 (U-labels) count for the bounce ratio, each domain under one name
however it is spelt (abuse_bounce_min=3, abuse_bounce_pct=50,
abuse_reject_domains 3 by default).  (Address literals are refused at
RCPT, doc/BEHAVIOUR.md 2.5: no customer's message has one.)

dev1 (127.0.0.31) sends one SMTPUTF8 message to a missing recipient at
b\u00fccher.example, at m\u00fcnchen.example and at a\u2488b.example (which has
no A-label, UTS #46 disallows its character): 3 bounces from 3 domains,
all it tried: alert with reason=bounced (such bounces named no domain
and counted for no ratio: no alert).

dev2 (127.0.0.32) sends one message to missing recipients at
B\u00dcCHER.example, b\u00fccher.example and XN--BCHER-KVA.example (one domain:
its A-label) and at stra\u00dfe.example: 2 bounces from 2 domains, no alert.
The names survive a restart of the relay (abuse/accounts' bounced_by=)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     smtp_session, wait_until)
from test_abuse_remote import accounts  # noqa: E402
# one customer with the devices' domains, and a mailbox gone
from test_abuse_bounce import GONE, RULES, field  # noqa: E402

DEV1_RCPTS = ['nobody@b\u00fccher.example', 'nobody@m\u00fcnchen.example',
              'nobody@a\u2488b.example']
DEV2_RCPTS = ['a@B\u00dcCHER.example', 'b@b\u00fccher.example',
              'c@XN--BCHER-KVA.example', 'd@stra\u00dfe.example']
DEV1 = 'device:127.0.0.31/dev1.example.com'
DEV2 = 'device:127.0.0.32/dev2.example.com'


def send_utf8(inst, ip, helo, rcpts):
    with smtp_session(inst.port, source_ip=ip) as c:
        c.ehlo(helo)
        c.sendmail('printer@example.com', rcpts,
                   b'Subject: names\r\n\r\nx\r\n', mail_options=['SMTPUTF8'])


def names(inst, account):
    by = field(inst, account, 'bounced_by') or ''
    return sorted(re.sub(r':\d+$', '', d) for d in by.split(',') if d)


def main():
    codes = {a: GONE for a in DEV1_RCPTS + DEV2_RCPTS}
    with Sink(codes=codes) as sink, \
            Instance(sink=sink, rules_text=RULES,
                     conf_overrides={'abuse_bounce_min': 3,
                                     'abuse_bounce_pct': 50}) as inst:
        send_utf8(inst, '127.0.0.31', 'dev1.example.com', DEV1_RCPTS)
        send_utf8(inst, '127.0.0.32', 'dev2.example.com', DEV2_RCPTS)
        check('3 domains in UTF-8: alert reason=bounced',
              inst.wait_log(
                  r'abuse: alert account=%s customer=example reason=bounced '
                  r'.*bounced_24h=3 delivered_24h=0 .*bounced_msgs_24h=3 '
                  r'bouncing_domains=3 ' % re.escape(DEV1), 30),
              inst.log_tail())
        check('4 recipients bounced, counted',
              wait_until(lambda: field(inst, DEV2, 'bounced_24h') == '4',
                         30), accounts(inst) + inst.log_tail())
        want = ['xn--bcher-kva.example', 'xn--strae-oqa.example']
        check('one domain in 3 spellings and another: 2 bounces',
              field(inst, DEV2, 'bounced_msgs_24h') == '2', accounts(inst))
        check('their names: the A-labels',
              names(inst, DEV2) == want, accounts(inst))
        check('2 domains: no alert', not re.search(
            'abuse: alert account=%s' % re.escape(DEV2), inst.log()),
            inst.log_tail())
        inst.stop()
        inst.start()
        check('the names after a restart', names(inst, DEV2) == want,
              accounts(inst))
        check('a name without an A-label: its bytes as %xx',
              'a%e2%92%88b.example' in names(inst, DEV1), accounts(inst))
    finish()


if __name__ == '__main__':
    main()
