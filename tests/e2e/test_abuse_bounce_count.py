#!/usr/bin/python3
"""test_abuse_bounce_count.py: how relay-send counts a delivery job's
hard bounces and refusals for abuse monitoring: once per message and
recipient domain, every domain, whatever the jobs the message took
(abuse_bounce_min=3, abuse_bounce_pct=50, abuse_reject_domains 3 by
default).

dev1 (127.0.0.21) sends one message through the relayhost to a missing
recipient at each of 10 domains and to 10 recipients that are
delivered: one job, 10 bounces (one a domain) against 10 delivered,
50 %: alert with reason=bounced, bounced_msgs_24h=10 (a job used to
count its first 8 domains only: 8 against 18, no alert).

dev2 (127.0.0.22) sends one message to 3 recipients of slow.example,
refused for good at its first, second and third attempt (450 before),
and to 2 recipients of policy.example refused 554 5.7.1 at the first
and second attempt: 5 bounced recipients, but 2 bounces (one for each
domain of the message) and 1 refusal (each job used to count its
domains again: 5 and 2)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402
from test_abuse_remote import accounts, send  # noqa: E402
# one customer with the devices' domains, and a mailbox gone
from test_abuse_bounce import GONE, RULES, field  # noqa: E402

POLICY = '554 5.7.1 refused by policy'
MISSING = ['nobody@d%d.example' % i for i in range(10)]
FINE = ['ok%d@fine.example' % i for i in range(10)]
SLOW = ['s%d@slow.example' % i for i in range(3)]
REFUSING = ['p%d@policy.example' % i for i in range(2)]
DEV1 = 'device:127.0.0.21/dev1.example.com'
DEV2 = 'device:127.0.0.22/dev2.example.com'


def main():
    codes = {a: GONE for a in MISSING}
    codes.update({a: [450] * i + [GONE] for i, a in enumerate(SLOW)})
    codes.update({a: [450] * i + [POLICY] for i, a in enumerate(REFUSING)})
    with Sink(codes=codes) as sink, \
            Instance(sink=sink, rules_text=RULES,
                     conf_overrides={'abuse_bounce_min': 3,
                                     'abuse_bounce_pct': 50,
                                     'retry_min': 1, 'retry_max': 2}) as inst:
        send(inst, '127.0.0.21', 'dev1.example.com', MISSING + FINE, 1)
        send(inst, '127.0.0.22', 'dev2.example.com', SLOW + REFUSING, 1)
        check('10 domains in one job: alert reason=bounced', inst.wait_log(
            r'abuse: alert account=%s customer=example reason=bounced '
            r'.*bounced_24h=10 delivered_24h=10 .*bounced_msgs_24h=10 '
            r'bouncing_domains=8 ' % re.escape(DEV1), 30), inst.log_tail())
        check('retried recipients: all 5 bounced, counted',
              wait_until(lambda: field(inst, DEV2, 'bounced_24h') == '5',
                         60), accounts(inst) + inst.log_tail())
        check('a message bounced by 2 domains over 3 jobs: 2 bounces',
              field(inst, DEV2, 'bounced_msgs_24h') == '2', accounts(inst))
        check('a domain refusing over 2 jobs: 1 refusal',
              field(inst, DEV2, 'rejected_24h') == '1', accounts(inst))
    finish()


if __name__ == '__main__':
    main()
