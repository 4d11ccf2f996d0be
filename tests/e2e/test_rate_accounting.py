#!/usr/bin/python3
"""test_rate_accounting.py: relay.conf `rate_accounting = yes|no`.

The benchmark's "service features off" sets rate_accounting = no: the
rules still decide who may relay, but relay-policy neither checks nor
counts the rate limits.  Customer "one" has 1 paid license (peak 9 per
10 minutes):
- yes (the default): the 10th recipient gets 450 4.2.1;
- no: 12 recipients are accepted and arrive, a stranger's MAIL FROM is
  still refused (never an open relay), and relayctl stats counted nothing.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

RULES = """\
customer one licenses=1 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""

PEAK = '450 4.2.1 Peak SMTP relay limit exceeded for customer.'


def txn(inst, sender, rcpts):
    """One session: MAIL reply code, the RCPT replies, the DATA code."""
    c = Raw(inst.port)
    c.reply()
    c.cmd(b'EHLO client.one.example\r\n')
    mail = c.cmd(b'MAIL FROM:<' + sender.encode() + b'>\r\n')[0]
    got = []
    for a in rcpts:
        r = c.cmd(b'RCPT TO:<' + a.encode() + b'>\r\n')
        got.append('%d %s' % (r[0], r[1][-1]))
    code = None
    if any(g.startswith('250') for g in got):
        if c.cmd(b'DATA\r\n')[0] == 354:
            code = c.cmd(b'Subject: acct\r\n\r\nhello\r\n.\r\n')[0]
    c.cmd(b'QUIT\r\n')
    c.close()
    return mail, got, code


def test_on():
    with Sink() as sink, Instance(rules_text=RULES, sink=sink) as inst:
        _, got, code = txn(inst, 'app@one.example',
                           ['on%d@example.org' % i for i in range(10)])
        check('rate_accounting = yes: recipients 1-9 accepted',
              all(g.startswith('250') for g in got[:9]), got)
        check('rate_accounting = yes: the 10th gets 450 4.2.1',
              got[9] == PEAK, got[9])
        check('rate_accounting = yes: message accepted', code == 250)
        s = inst.relayctl('stats', '--customer', 'one').stdout
        check('rate_accounting = yes: stats count 9', 'rcpts_10m=9/9' in s, s)


def test_off():
    with Sink() as sink, Instance(rules_text=RULES, sink=sink,
                                  conf_overrides={'rate_accounting': 'no'}) \
            as inst:
        _, got, code = txn(inst, 'app@one.example',
                           ['off%d@example.org' % i for i in range(12)])
        check('rate_accounting = no: all 12 recipients accepted',
              all(g.startswith('250') for g in got), got)
        check('rate_accounting = no: message accepted', code == 250)
        n = sink.wait_rcpts('off', 12)
        check('rate_accounting = no: 12 recipients arrive', n == 12, n)
        mail, got, _ = txn(inst, 'someone@stranger.example',
                           ['x@example.org'])
        check('rate_accounting = no: a foreign sender is still refused '
              '(no open relay)', mail >= 500 or
              not any(g.startswith('250') for g in got), (mail, got))
        s = inst.relayctl('stats', '--customer', 'one').stdout
        check('rate_accounting = no: nothing counted',
              'rcpts_10m=12' not in s and 'rcpts_24h=12' not in s, s)


test_on()
test_off()
finish()
