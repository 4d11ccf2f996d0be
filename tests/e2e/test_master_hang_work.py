#!/usr/bin/python3
"""test_master_hang_work.py: a daemon doing long legitimate work in its
main loop beats meanwhile, so relay-master (daemon_hang_timeout) does
not kill it as hung.
  - relay-send's TLS-RPT report of a period with many domains: one DNS
    lookup of _smtp._tls.<domain> per domain, in relay-send's main loop.
    Here the resolver answers each after DELAY s (NXDOMAIN: no report),
    and the period left behind (tlsrpt/records.<start>) names DOMAINS
    domains, so the whole report takes several times daemon_hang_timeout
    while no single lookup comes near it.  relay-send must finish it
    without being killed (a relay-send killed there meets the same
    records at its next start: killed again and again);
  - the same when the resolver does not answer at all: one lookup then
    waits for glibc's retries (4 s with one server, DNS_WAIT_MAX at
    most), longer than daemon_hang_timeout = 3 and with no beat inside
    it.  relay-master applies a longer limit with tls_rpt = yes and says
    so once (and nothing about Redis: rate_store is local), and
    relay-send gives up on the lookup ("tried again later"), twice,
    without being killed.  The old relay-master raised the limit to 5 s
    for a Redis it did not use, and with 3 s applied it killed relay-send
    in the lookup;
  - relay-metrics mailing an alert through the relay waits up to 10 s
    for each SMTP step in its main thread, beating meanwhile: with
    daemon_hang_timeout = 3 (not raised for it) relay-metrics, whose
    greeting never comes (every relay-smtpd stopped with SIGSTOP), gives
    up on the mail without being killed.  Before it beat there,
    relay-master applied 3 s and killed it in that wait;
  - relay-policy with a shared rate_store whose Redis stops answering
    (SIGSTOP) waits up to rate_store_timeout (5 s here) per exchange in
    its main loop: with daemon_hang_timeout = 4 relay-master applies a
    longer limit, says so once, and relay-policy is not killed while
    Redis is stopped for 12 s."""
import os
import pwd
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Instance, Sink, check, finish, free_port,  # noqa: E402
                     no_sanitizer_report, smtp_session)

from redisserver import RedisServer  # noqa: E402

import dns.message  # noqa: E402
import dns.rcode  # noqa: E402

LIMIT = 4     # daemon_hang_timeout (s)
DELAY = 1.0   # each DNS answer's delay (s): below glibc's first retry (2 s)
DOMAINS = 10  # DOMAINS * DELAY is far above LIMIT


class SlowDns:
    """UDP only: every query gets NXDOMAIN after DELAY seconds."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(wire)
            except Exception:
                continue
            self.queries += 1
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.NXDOMAIN)
            threading.Timer(DELAY, self.answer, (r.to_wire(), peer)).start()

    def answer(self, wire, peer):
        try:
            self.sock.sendto(wire, peer)
        except OSError:
            pass

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def leftover(inst, domains=DOMAINS):
    """A period relay-send reports at its start, `domains` domains in it."""
    d = inst.path('tlsrpt')
    os.makedirs(d, mode=0o700)
    path = os.path.join(d, 'records.86400')
    with open(path, 'w') as f:
        for i in range(domains):
            f.write('d%d.test sts certificate-expired mx.d%d.test 127.0.0.9 '
                    'testing,86400,mx.d%d.test\n' % (i, i, i))
    if os.geteuid() == 0:
        pw = pwd.getpwnam('relaysend')
        for p in (d, path):
            os.chown(p, pw.pw_uid, pw.pw_gid)


def test_tlsrpt_many_domains():
    dns_srv = SlowDns()
    try:
        inst = Instance(conf_overrides={
            'daemon_hang_timeout': LIMIT, 'tls_rpt': 'yes',
            'resolver': '127.0.0.1:%d' % dns_srv.port}).prepare()
        leftover(inst)
        with inst:
            pid = inst.status()['relay-send'][0]
            last = r'relay-send\[%d\]: info: tls-rpt: domain=d%d\.test: no rua' \
                % (pid, DOMAINS - 1)
            m = inst.wait_log(last, DOMAINS * DELAY * 3 + 20)
            check('relay-send reported all %d domains (%.0f s of DNS)'
                  % (DOMAINS, DOMAINS * DELAY), m, inst.log_tail(12))
            check('relay-send was not killed as hung meanwhile',
                  'hangs: silent' not in inst.log() and
                  inst.status()['relay-send'][0] == pid,
                  inst.log_tail(12))
            check('the resolver was asked once per domain',
                  dns_srv.queries >= DOMAINS, dns_srv.queries)
            no_sanitizer_report(inst)
    finally:
        dns_srv.stop()


def test_tlsrpt_silent_resolver():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(('127.0.0.1', 0))  # never read: no query is answered
    try:
        inst = Instance(conf_overrides={
            'daemon_hang_timeout': 3, 'tls_rpt': 'yes',
            'resolver': '127.0.0.1:%d' % silent.getsockname()[1]}).prepare()
        d = inst.path('tlsrpt')
        os.makedirs(d, mode=0o700)
        # the period that ended at the last midnight: a lookup that
        # fails for now keeps it (a day of patience)
        start = (int(time.time()) // 86400 - 1) * 86400
        path = os.path.join(d, 'records.%d' % start)
        with open(path, 'w') as f:
            f.write('d0.test sts certificate-expired mx.d0.test 127.0.0.9 '
                    'testing,86400,mx.d0.test\n')
        if os.geteuid() == 0:
            pw = pwd.getpwnam('relaysend')
            for p in (d, path):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        with inst:
            pid = inst.status()['relay-send'][0]
            check('relay-master says it applies a longer limit',
                  inst.wait_log(r'warning: daemon_hang_timeout 3 is too '
                                r'short for tls_rpt = yes.*: 13 s applied',
                                5), inst.log_tail(12))
            check('... and not for Redis: rate_store is local',
                  'short for rate_store_timeout' not in inst.log(),
                  inst.log_tail(12))
            gave_up = r'relay-send\[%d\]: warning: tls-rpt: ' \
                r'domain=d0\.test: its TLSRPT record could not be ' \
                r'looked up .*: tried again later' % pid
            # the first try may come before the ready byte (not timed):
            # the second, 10 s later, is timed
            m = harness.wait_until(
                lambda: len(re.findall(gave_up, inst.log())) >= 2 or
                'hangs: silent' in inst.log(), 40)
            check('the silent resolver: relay-send gave up on the lookup '
                  'twice', m and len(re.findall(gave_up, inst.log())) >= 2,
                  inst.log_tail(12))
            check('relay-send was not killed as hung meanwhile',
                  'hangs: silent' not in inst.log() and
                  inst.status()['relay-send'][0] == pid,
                  inst.log_tail(12))
            remote = inst.status()['relay-remote'][0]
            os.kill(pid, signal.SIGSTOP)
            os.kill(remote, signal.SIGSTOP)
            killed = r'relay-send pid=%d hangs: silent for \d+ s ' \
                r'\(daemon_hang_timeout 3, raised to 13\)' % pid
            check('stopped, it is killed after the raised limit, and the '
                  'line says both', inst.wait_log(killed, 25),
                  inst.log_tail(12))
            m = re.search(r'relay-remote pid=%d hangs: silent for (\d+) s '
                          r'\(daemon_hang_timeout 3\)' % remote, inst.log())
            check('relay-remote, stopped at the same time, had the limit '
                  'as set: only relay-send waits for the lookup',
                  m and int(m.group(1)) < 13, inst.log_tail(12))
            no_sanitizer_report(inst)
    finally:
        silent.close()


ALERT_RULES = """\
customer one licenses=10 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""


def test_metrics_alert_slow_relay():
    with Sink(codes={'later@slow.example': [451] * 50}) as sink, \
            Instance(sink=sink, rules_text=ALERT_RULES, conf_overrides={
                'daemon_hang_timeout': 3,
                'metrics_listen': '127.0.0.1:%d' % free_port(),
                'metrics_alert_mail': 'ops@example.org',
                'metrics_alert_from': 'relay@one.example',
                'metrics_alert_queue': 1,
                'retry_min': 300, 'retry_max': 600}) as inst:
        check('no longer limit for the alert mail: its waits beat',
              'too short for metrics_alert_mail' not in inst.log() and
              not inst.wait_log(r'daemon_hang_timeout 3 is too short', 2),
              inst.log_tail(12))
        with smtp_session(inst.port) as c:
            c.ehlo('client.test')
            c.sendmail('a@one.example', ['later@slow.example'],
                       b'Subject: m\r\n\r\nhello\r\n')
        pid = inst.status()['relay-metrics'][0]
        smtpd = inst.pids(['relay-smtpd'])
        for p in smtpd:  # the alert mail's greeting never comes
            os.kill(p, signal.SIGSTOP)
        try:
            m = inst.wait_log(r'relay-metrics\[%d\]: warning: alert mail '
                              r'to=<ops@example\.org> not sent|relay-metrics '
                              r'pid=%d hangs' % (pid, pid), 45)
        finally:
            for p in smtpd:
                os.kill(p, signal.SIGCONT)
        check('the alert mail waited for a greeting that never came',
              m and 'not sent' in m.group(0), inst.log_tail(12))
        check('relay-metrics was not killed as hung meanwhile',
              'hangs: silent' not in inst.log() and
              inst.status()['relay-metrics'][0] == pid, inst.log_tail(12))
        no_sanitizer_report(inst)


def test_redis_stopped():
    with RedisServer() as redis:
        inst = Instance(conf_overrides={
            'daemon_hang_timeout': LIMIT, 'rate_store': redis.url(),
            'rate_store_timeout': 5000}).prepare()
        redis.write_auth(inst.dir)
        with inst:
            check('relay-master says it applies a longer limit',
                  inst.wait_log(r'warning: daemon_hang_timeout 4 is too '
                                r'short for rate_store_timeout 5000 ms.*: '
                                r'13 s applied', 5), inst.log_tail(12))
            pid = inst.status()['relay-policy'][0]
            os.kill(redis.proc.pid, signal.SIGSTOP)
            try:
                time.sleep(12)
            finally:
                os.kill(redis.proc.pid, signal.SIGCONT)
            check('Redis stopped 12 s: relay-policy not killed as hung',
                  'hangs: silent' not in inst.log() and
                  inst.status()['relay-policy'][0] == pid,
                  [ln for ln in inst.log().splitlines() if 'hangs' in ln][:3])
            no_sanitizer_report(inst)


def main():
    test_metrics_alert_slow_relay()
    test_tlsrpt_silent_resolver()
    test_tlsrpt_many_domains()
    test_redis_stopped()
    finish()


if __name__ == '__main__':
    main()
