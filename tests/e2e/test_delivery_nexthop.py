#!/usr/bin/python3
"""test_delivery_nexthop.py: a fixed next hop whose name does not resolve
(a typo in relayhost or in a route's host, a lapsed delegation of the
smarthost's zone) defers the mail, it does not bounce it: the whole
instance (relay-send -> relay-remote) against our DNS server
(dnsserver.py) and a receiving server.  relayhost names a host that gets
NXDOMAIN: the recipients are deferred with 4.4.4, a warning names
relayhost, no notice goes to the sender; once the name resolves the next
try delivers.  A route's host without an address record (NODATA): the
warning names the route as relay.rules writes it.
A relayhost that does not parse (a port out of range, a missing ']', a
trailing ':', a space) is a configuration error: relayctl start fails
naming relayhost, and so does relayctl reload after relay.conf is edited
under a running relay; mail never goes to the MX hosts instead."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEFAULT_RULES, Instance, Sink, check, finish  # noqa: E402
from dnsserver import DnsServer  # noqa: E402
from test_delivery import inject, wait  # noqa: E402

SMARTHOST = 'smarthost.example.test'
ROUTED = 'routed.example.test'


def deferred(inst, rcpt):
    return ('to=<%s>' % rcpt in inst.log() and
            'status=deferred (451 4.4.4 next hop' in inst.log())


def expect_deferred(inst, name, rcpts, warning):
    """rcpts injected: deferred with 4.4.4, a warning matching warning,
    nothing bounced, no notice."""
    rc, err = inject(inst, 'a@example.com', rcpts,
                     b'Subject: %s\r\n\r\nx\r\n' % name.encode())
    check('%s: injected' % name, rc == 0, err)
    check('%s: recipients deferred 4.4.4' % name,
          wait(lambda: deferred(inst, rcpts[-1]), 30), inst.log_tail())
    check('%s: a warning names the setting' % name,
          inst.wait_log(warning, 10), inst.log_tail())
    check('%s: nothing bounced, no notice' % name,
          'status=bounced' not in inst.log() and
          'notification' not in inst.log() and inst.queue_count() == 1,
          inst.log_tail())


BAD_RELAYHOSTS = ('[127.0.0.1]:300390', '[127.0.0.1:3003', '[127.0.0.1]:',
                  'smart host.test', '[]:25')


def set_relayhost(inst, value):
    with open(inst.path('relay.conf')) as f:
        lines = [l for l in f if not l.startswith('relayhost ')]
    with open(inst.path('relay.conf'), 'w') as f:
        f.writelines(lines + ['relayhost = %s\n' % value])


def refused(r, value):
    return (r.returncode != 0 and 'relayhost' in r.stderr and value in r.stderr)


def test_relayhost_malformed():
    for bad in BAD_RELAYHOSTS:
        inst = Instance().prepare()  # makecdb reads relay.conf too
        set_relayhost(inst, bad)
        try:
            r = inst.relayctl('start', '-w', '10')
            check('relayhost %r: relayctl start refuses, naming it' % bad,
                  refused(r, bad) and not os.path.exists(inst.path('run/ready')),
                  (r.returncode, r.stdout, r.stderr[-400:]))
        finally:
            inst.relayctl('stop')
            inst.remove()
    with Sink() as smarthost:
        good = '[127.0.0.1]:%d' % smarthost.port
        with Instance(conf_overrides={'relayhost': good}) as inst:
            set_relayhost(inst, BAD_RELAYHOSTS[0])
            r = inst.relayctl('reload')
            check('relayhost malformed in relay.conf: relayctl reload refuses, '
                  'naming it', refused(r, BAD_RELAYHOSTS[0]),
                  (r.returncode, r.stdout, r.stderr[-400:]))


test_relayhost_malformed()
ZONE = {ROUTED: {'MX': [[10, 'mx.' + ROUTED]]}}
with tempfile.TemporaryDirectory(prefix='relaybox-nexthop-') as work, \
        DnsServer(ZONE, work) as dns, Sink() as sink:
    rules = DEFAULT_RULES + 'route rcpt .route.example %s:%d\n' % (
        ROUTED, sink.port)
    conf = {'relayhost': '%s:%d' % (SMARTHOST, sink.port),
            'resolver': '127.0.0.1:%d' % dns.port,
            'retry_min': 1, 'retry_max': 2}
    with Instance(conf_overrides=conf, rules_text=rules) as inst:
        expect_deferred(inst, 'relayhost NXDOMAIN',
                        ['u@example.org', 'v@example.org'],
                        r'warning: \S+: next hop %s set by relayhost not '
                        r'found \(NXDOMAIN\)' % SMARTHOST)
        dns.set(dict(ZONE, **{SMARTHOST: {'A': ['127.0.0.1']}}))
        check('relayhost resolves again: delivered',
              inst.wait_queue_empty(30) and len(sink.messages) == 1 and
              sorted(sink.messages[0].rcpts) ==
              ['u@example.org', 'v@example.org'], inst.log_tail())
    with Instance(conf_overrides=dict(conf, relayhost=''),
                  rules_text=rules) as inst:
        expect_deferred(inst, 'route host without an address',
                        ['w@a.route.example'],
                        r'next hop %s set by route rcpt \.route\.example '
                        r'not found \(no address record\)' % ROUTED)
finish()
