#!/usr/bin/python3
"""test_abuse_bounce.py: the hard-bounce ratio of abuse monitoring cannot
be pushed by one receiving domain (abuse_bounce_min=3,
abuse_bounce_pct=50, abuse_reject_domains 3 by default).

dev1 (127.0.0.11) sends 4 messages, each to 10 recipients of one hostile
domain answering 550 5.1.1 to all: 40 bounced recipients and none
delivered, but 4 bounces (one a message and domain) from one domain: no
alert.  dev2 sends one message to the 10 hostile recipients, to one
missing recipient at each of two other domains and to 5 that are
delivered: 3 domains, but 3 bounces against 5 delivered (37 %): no
alert (12 recipients of 17 would have been 70 %).  dev3 sends one
message to a missing recipient at each of 3 domains: 3 bounces from 3
domains, all it tried: alert with reason=bounced.

An upgrade: an abuse/accounts line of before (no bounced_msgs_hours=,
no bounced_by=) loads: its account, state and counts come back."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402
from test_abuse_remote import accounts, send  # noqa: E402

RULES = """\
customer example licenses=1000 admin=admin@example.org
domain example.com customer=example
domain dev1.example.com customer=example
domain dev2.example.com customer=example
domain dev3.example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
"""
HOSTILE = ['u%d@hostile.example' % i for i in range(10)]
MISSING = ['nobody@%s.example' % d for d in ('a', 'b', 'c')]
GONE = '550 5.1.1 no such user'
# before bounced_msgs_hours= and bounced_by=: what an older relay-queue
# wrote (alerted now, within its grace: it stays alerted; hour= now's)
OLD_LINE = ('account=device:127.0.0.9/dev9.example.com customer=example '
            'state=alerted reason=bounced spam_24h=0 scanned_24h=0 '
            'delivered_24h=1 bounced_24h=25 rejected_24h=0 '
            'baseline_per_hour=0.00 since=1 alerted=%d suspended=0 '
            'acked_by=- samples=- symbols=- mailed=0 hour=%d '
            'spam_hours=- scanned_hours=- delivered_hours=0:1 '
            'bounced_hours=0:25 rejected_hours=- rejected_by=-\n')


def field(inst, account, key):
    """The value of key in account's line of abuse/accounts, or None."""
    for line in accounts(inst).splitlines():
        if line.startswith('account=%s ' % account):
            f = dict(w.split('=', 1) for w in line.split() if '=' in w)
            return f.get(key)
    return None


def alerted(inst, ip):
    return re.search(r'abuse: alert account=device:%s/' % re.escape(ip),
                     inst.log())


def test_upgrade(inst):
    """An upgrade: the file of before, read at start."""
    inst.stop()
    st = os.stat(inst.path('abuse'))
    path = inst.path('abuse/accounts')
    with open(path, 'w') as f:
        now = int(time.time())
        f.write('relaybox-abuse 1\n' + OLD_LINE % (now, now // 3600))
    os.chown(path, st.st_uid, st.st_gid)
    inst.start()
    r = inst.relayctl('abuse', 'list')
    check('an older abuse/accounts loads: state and counts kept',
          re.search(r'^alerted +device:127\.0\.0\.9/dev9\.example\.com '
                    r'.*bounced_24h=25 delivered_24h=1', r.stdout, re.M),
          r.stdout + r.stderr + inst.log_tail())


def main():
    codes = {a: GONE for a in HOSTILE + MISSING}
    with Sink(codes=codes) as sink, \
            Instance(sink=sink, rules_text=RULES,
                     conf_overrides={'abuse_bounce_min': 3,
                                     'abuse_bounce_pct': 50}) as inst:
        send(inst, '127.0.0.11', 'dev1.example.com', HOSTILE, 4)
        send(inst, '127.0.0.12', 'dev2.example.com',
             HOSTILE + MISSING[:2] + ['ok%d@fine.example' % i
                                      for i in range(5)], 1)
        send(inst, '127.0.0.13', 'dev3.example.com', MISSING, 1)
        check('several domains: alert reason=bounced', inst.wait_log(
            r'abuse: alert account=device:127\.0\.0\.13/dev3\.example\.com '
            r'customer=example reason=bounced .*bounced_24h=3 '
            r'delivered_24h=0 .*bounced_msgs_24h=3 bouncing_domains=3 ', 30),
            inst.log_tail())
        dev1 = 'device:127.0.0.11/dev1.example.com'
        dev2 = 'device:127.0.0.12/dev2.example.com'
        # the file is written after the tick has decided on its counts
        check('one hostile domain: 40 recipients bounced, counted',
              wait_until(lambda: field(inst, dev1, 'bounced_24h') == '40',
                         30), accounts(inst))
        check('one hostile domain alone: no alert', not alerted(
            inst, '127.0.0.11'), inst.log_tail())
        check('one hostile domain: one bounce a message',
              field(inst, dev1, 'bounced_msgs_24h') == '4', accounts(inst))
        check('with two others: 12 recipients bounced, counted',
              wait_until(lambda: field(inst, dev2, 'bounced_24h') == '12' and
                         field(inst, dev2, 'delivered_24h') == '5', 30),
              accounts(inst))
        check('one a message and domain against those delivered: no alert',
              not alerted(inst, '127.0.0.12'), inst.log_tail())
        test_upgrade(inst)
    finish()


if __name__ == '__main__':
    main()
