#!/usr/bin/python3
"""test_abuse.py: abuse monitoring end to end, with a real rspamd and the
clock run by faketime.  Customer "example" (scan=score, admin=) has two
unregistered devices that present its domain in HELO: dev1
(127.0.0.1) and dev2 (127.0.0.2).  dev1 sends GTUBE past abuse_spam_max:
the log says alert, the admin gets a mail, relayctl abuse list/show
give the evidence (counts, sample queue ids, rspamd's symbols), and dev1
still relays (an alert suspends nothing).  Twelve hours later it is
still at it; once abuse_grace (24 h) has passed since the alert it is
suspended: its MAIL gets 550 5.7.1, the admin gets a second mail, while
dev2 of the same customer keeps relaying.  relayctl abuse release lifts
it (logged with who did it) and dev1 relays again.

The clock: every daemon runs under libfaketime (LD_PRELOAD) reading its
offset from a file the test rewrites (FAKETIME_TIMESTAMP_FILE,
FAKETIME_NO_CACHE); the monotonic clock stays real
(FAKETIME_DONT_FAKE_MONOTONIC), so timeouts and admission proofs keep
their meaning while Unix time jumps."""
import glob
import os
import re
import smtplib
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, free_port,  # noqa: E402
                     skip, smtp_session, wait_until)
from rspamd import GTUBE, Rspamd  # noqa: E402

RULES = """\
customer example licenses=1000 scan=score admin=admin@example.org
domain example.com customer=example
domain dev1.example.com customer=example
domain dev2.example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
"""
DEV1 = 'device:127.0.0.1/dev1.example.com'


def message(tag, body):
    return ('From: <printer@example.com>\r\nTo: <someone@example.org>\r\n'
            'Subject: %s\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n'
            'Message-ID: <%s@dev.example.com>\r\n\r\n' % (tag, tag)
            ).encode() + body + b'\r\n'


def send(inst, ip, helo, tag, body=b'The toner is low.'):
    """(code, text) of the refusal, or (250, '') when accepted."""
    with smtp_session(inst.port, source_ip=ip) as c:
        c.ehlo(helo)
        try:
            c.sendmail('printer@example.com', ['someone@example.org'],
                       message(tag, body))
        except smtplib.SMTPSenderRefused as e:
            return e.smtp_code, e.smtp_error.decode(errors='replace')
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error.decode(errors='replace')
    return 250, ''


def mails_to_admin(sink, word):
    return [m for m in list(sink.messages)
            if 'admin@example.org' in m.rcpts and word.encode() in m.data]


class Clock:
    """The offset every daemon of the instance reads (libfaketime)."""

    def __init__(self, folder):
        self.path = os.path.join(folder, 'faketime')
        self.set('+0')

    def set(self, offset):
        with open(self.path + '.tmp', 'w') as f:
            f.write(offset + '\n')
        os.chmod(self.path + '.tmp', 0o644)
        os.rename(self.path + '.tmp', self.path)

    def environ(self):
        lib = (glob.glob('/usr/lib/*/faketime/libfaketimeMT.so.1') or
               glob.glob('/usr/lib/*/faketime/libfaketime.so.1'))
        if not lib:
            return None
        asan = os.environ.get('ASAN_OPTIONS', '')
        return {'LD_PRELOAD': lib[0], 'FAKETIME_TIMESTAMP_FILE': self.path,
                'FAKETIME_NO_CACHE': '1', 'FAKETIME_DONT_FAKE_MONOTONIC': '1',
                'ASAN_OPTIONS': (asan + ':' if asan else '') +
                'verify_asan_link_order=0'}


def test_alert(inst, sink):
    for i in range(3):
        code, text = send(inst, '127.0.0.1', 'dev1.example.com', 'spam%d' % i,
                          GTUBE)
        check('dev1 GTUBE %d: relayed (scan=score)' % i, code == 250,
              '%s %s' % (code, text))
    check('log: the alert names the account and the evidence', inst.wait_log(
        r'abuse: alert account=' + re.escape(DEV1) +
        r' customer=example reason=spam spam_24h=3 .*symbols=\S*GTUBE', 10),
        inst.log_tail())
    check('the admin gets the alert mail',
          wait_until(lambda: mails_to_admin(sink, 'abuse alert: ' + DEV1), 30),
          inst.log_tail())
    mode = os.stat(inst.path('abuse/accounts')).st_mode & 0o777
    check('abuse/accounts is for relayctl alone (0600)', mode == 0o600,
          '%o' % mode)
    r = relayctl(inst, 'abuse', 'list')
    check('relayctl abuse list: alerted, 3 spam', r.returncode == 0 and
          re.search(r'^alerted +' + re.escape(DEV1) +
                    r' customer=example spam_24h=3 ', r.stdout, re.M),
          r.stdout + r.stderr)
    r = relayctl(inst, 'abuse', 'show', DEV1)
    check('relayctl abuse show: sample queue ids and the symbols',
          r.returncode == 0 and re.search(r'^samples +[0-9A-F]+,[0-9A-F]+,',
                                          r.stdout, re.M) and
          re.search(r'^symbols +\S*GTUBE', r.stdout, re.M),
          r.stdout + r.stderr)
    code, text = send(inst, '127.0.0.1', 'dev1.example.com', 'clean1')
    check('alerted, not suspended: dev1 still relays', code == 250,
          '%s %s' % (code, text))
    code, _ = send(inst, '127.0.0.1', 'dev1.example.com', 'spam3', GTUBE)
    time.sleep(3)
    check('rate-limited: one alert mail, not one per spam message',
          len(mails_to_admin(sink, 'abuse alert: ' + DEV1)) == 1,
          len(mails_to_admin(sink, 'abuse alert: ' + DEV1)))


def test_suspend(inst, sink, clock):
    clock.set('+12h')
    time.sleep(2)
    for i in range(3):
        code, _ = send(inst, '127.0.0.1', 'dev1.example.com', 'later%d' % i,
                       GTUBE)
    check('twelve hours later dev1 still sends spam (relayed)', code == 250)
    check('not suspended before abuse_grace', not re.search(
        r'abuse: suspended', inst.log()))
    clock.set('+24h')
    time.sleep(1)
    clock.set('+1455m')  # 24 h 15 min after the alert
    check('log: suspended after abuse_grace, still over', inst.wait_log(
        r'abuse: suspended account=' + re.escape(DEV1) +
        r' customer=example reason=spam spam_24h=3', 15), inst.log_tail())
    check('the admin gets the suspension mail', wait_until(
        lambda: mails_to_admin(sink, 'account suspended: ' + DEV1), 30),
        inst.log_tail())
    ok = wait_until(lambda: send(inst, '127.0.0.1', 'dev1.example.com',
                                 'blocked')[0] == 550, 10)
    code, text = send(inst, '127.0.0.1', 'dev1.example.com', 'blocked')
    check('dev1 suspended: 550 5.7.1 the account is suspended',
          ok and code == 550 and text.startswith('5.7.1') and
          'suspended' in text and DEV1 in text, '%s %s' % (code, text))
    code, text = send(inst, '127.0.0.2', 'dev2.example.com', 'dev2ok')
    check('dev2 of the same customer keeps relaying', code == 250,
          '%s %s' % (code, text))
    check('dev2 delivered', wait_until(
        lambda: any(b'Subject: dev2ok' in m.data for m in sink.messages), 30))


def relayctl(inst, *args):
    """relayctl on the real clock: it needs none, and libfaketime's
    multithreaded variant is not for every program."""
    import subprocess
    from harness import BIN
    env = {k: v for k, v in os.environ.items() if not k.startswith(
        ('LD_PRELOAD', 'FAKETIME'))}
    return subprocess.run([os.path.join(BIN, 'relayctl'), '-d', inst.dir] +
                          list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60,
                          env=env)


def test_release(inst):
    r = relayctl(inst, 'abuse', 'ack', DEV1)
    check('relayctl abuse ack: exit 0, logged with who', r.returncode == 0 and
          inst.wait_log(r'abuse: acknowledged account=' + re.escape(DEV1) +
                        r' state=suspended by=\S+ uid=%d' % os.getuid(), 5),
          r.stdout + r.stderr)
    r = relayctl(inst, 'abuse', 'release', DEV1)
    check('relayctl abuse release: exit 0', r.returncode == 0,
          r.stdout + r.stderr)
    check('log: released, with who did it', inst.wait_log(
        r'abuse: released account=' + re.escape(DEV1) +
        r' state=suspended by=\S+ uid=%d' % os.getuid(), 5),
        inst.log_tail())
    check('dev1 relays again after the release', wait_until(
        lambda: send(inst, '127.0.0.1', 'dev1.example.com', 'back')[0] == 250,
        10), inst.log_tail())
    r = relayctl(inst, 'abuse', 'show', DEV1)
    check('relayctl abuse show: ok again, released by whom',
          re.search(r'^state +ok$', r.stdout, re.M) and
          re.search(r'^acked_by +\S+/uid%d$' % os.getuid(), r.stdout, re.M),
          r.stdout + r.stderr)
    r = relayctl(inst, 'abuse', 'release', 'device:192.0.2.1/nobody')
    check('release of an unknown account: refused', r.returncode != 0,
          r.stdout + r.stderr)


def test_metrics(port):
    """relay-metrics' exposition: the events and the verdicts."""
    import urllib.request
    text = ''
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                    timeout=10) as r:
            text = r.read().decode()
    except OSError as e:
        text = repr(e)
    for line in ('relay_abuse_events_total{event="alert"} 1',
                 'relay_abuse_events_total{event="suspend"} 1',
                 'relay_abuse_events_total{event="release"} 1',
                 'relay_scan_verdicts_total{verdict="spam"} 7'):
        check('metrics: ' + line, line in text, text[-1500:])


def main():
    folder = tempfile.mkdtemp(prefix='relaybox-abuse-')
    os.chmod(folder, 0o755)
    clock = Clock(folder)
    env = clock.environ()
    if env is None:
        skip('abuse monitoring', 'no libfaketime (package faketime)')
        finish()
        return
    saved = dict(os.environ)
    try:
        with Rspamd() as rsp, Sink() as sink:
            os.environ.update(env)  # relay-master and every daemon
            try:
                mport = free_port()
                with Instance(sink=sink, rules_text=RULES,
                              conf_overrides={'scan_rspamd': rsp.addr,
                                              'abuse_spam_max': 3,
                                              'metrics_listen':
                                              '127.0.0.1:%d' % mport}) as inst:
                    test_alert(inst, sink)
                    test_suspend(inst, sink, clock)
                    test_release(inst)
                    test_metrics(mport)
            finally:
                os.environ.clear()
                os.environ.update(saved)
    finally:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
