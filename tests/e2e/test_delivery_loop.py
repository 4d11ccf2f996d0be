#!/usr/bin/python3
"""test_delivery_loop.py: a recipient domain whose MX is this relay (its
MX host resolves to an address the relay listens on at smtp_port) is
bounced at the first try with 5.4.6, without connecting: the whole
instance (relay-send -> relay-remote), the MX pointing at 127.0.0.1 on
the instance's own port.  Without the check the message went round
through relay-smtpd until hops_max, queued, signed and counted against
the customer's limits on every pass."""
import os
import re
import smtplib
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, check, finish, free_port  # noqa: E402
from dnsserver import DnsServer  # noqa: E402
from test_delivery import wait  # noqa: E402

ZONE = {'loop.test': {'MX': [[10, 'mx.loop.test']]},
        'mx.loop.test': {'A': ['127.0.0.1']}}
with tempfile.TemporaryDirectory(prefix='relaybox-loop-') as work, \
        DnsServer(ZONE, work) as dns:
    port = free_port('127.0.0.1')
    conf = {'listen': '127.0.0.1:%d' % port, 'smtp_port': port,
            'resolver': '127.0.0.1:%d' % dns.port}
    with Instance(conf_overrides=conf) as inst:
        s = smtplib.SMTP('127.0.0.1', port, timeout=30)
        s.sendmail('a@example.com', ['u@loop.test'], b'Subject: loop\r\n\r\nhi\r\n')
        s.quit()
        bounced = r'to=<u@loop\.test> .*status=bounced \(554 5\.4\.6 mail for loop\.test loops back to myself'
        check('MX is this relay: bounced 5.4.6 at the first try',
              wait(lambda: re.search(r'relay-send\[\d+\]: .*' + bounced, inst.log()), 60),
              inst.log_tail())
        log = inst.log()
        check('MX is this relay: never sent to itself',
              not re.search(r'to=<u@loop\.test> .*status=sent', log) and
              'Too many hops' not in log, inst.log_tail())
        out = inst.relayctl('stats').stdout
        check('MX is this relay: the recipient counted once',
              'customer=example rcpts_24h=1/' in out, out)
finish()
