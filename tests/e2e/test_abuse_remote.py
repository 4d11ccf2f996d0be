#!/usr/bin/python3
"""test_abuse_remote.py: abuse monitoring's signals from the receiving
side, no scanner needed.  relay-send tells relay-queue each delivery
job's results per account: dev3 (127.0.0.3) sends to a recipient the
receiver refuses with 554 5.7.1 past abuse_reject_max: alert with
reason=rejected and a mail to the admin; dev4 (127.0.0.4) sends to a
recipient that does not exist (550 5.1.1) past abuse_bounce_min at a
ratio over abuse_bounce_pct: alert with reason=bounced.  dev5, whose
mail is delivered, stays ok; relayctl abuse list shows the counts.
Volume, with every daemon on a faketime clock (test_abuse.Clock): dev6
sends 6 messages on its first day (over abuse_volume_min, but no
baseline yet: no alert), then, a day later, 6 in an hour against a
baseline of a fraction of one an hour: alert with reason=volume."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     smtp_session, wait_until)

RULES = """\
customer example licenses=1000 admin=admin@example.org
domain example.com customer=example
domain dev3.example.com customer=example
domain dev4.example.com customer=example
domain dev5.example.com customer=example
domain dev6.example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
"""


def send(inst, ip, helo, rcpt, n):
    for i in range(n):
        with smtp_session(inst.port, source_ip=ip) as c:
            c.ehlo(helo)
            c.sendmail('printer@example.com', [rcpt],
                       b'Subject: n%d\r\n\r\nx\r\n' % i)


def accounts(inst):
    try:
        with open(inst.path('abuse/accounts')) as f:
            return f.read()
    except OSError:
        return ''


def test_volume(sink):
    import tempfile
    import shutil
    from test_abuse import Clock
    folder = tempfile.mkdtemp(prefix='relaybox-volume-')
    os.chmod(folder, 0o755)
    clock = Clock(folder)
    saved = dict(os.environ)
    try:
        os.environ.update(clock.environ())
        with Instance(sink=sink, rules_text=RULES,
                      conf_overrides={'abuse_volume_min': 5,
                                      'abuse_volume_factor': 3}) as inst:
            send(inst, '127.0.0.6', 'dev6.example.com', 'a@example.org', 6)
            wait_until(lambda: re.search(r'delivered_24h=6', accounts(inst)),
                       30)
            check('volume on the first day: no baseline yet, no alert',
                  not re.search(r'abuse: alert', inst.log()),
                  inst.log_tail())
            clock.set('+25h')
            send(inst, '127.0.0.6', 'dev6.example.com', 'a@example.org', 6)
            check('a day later, 6 in an hour against its baseline: '
                  'alert reason=volume', inst.wait_log(
                      r'abuse: alert account=device:127\.0\.0\.6/'
                      r'dev6\.example\.com customer=example reason=volume '
                      r'.*this_hour=6 baseline_per_hour=0\.[0-9]', 30),
                  inst.log_tail())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)


def main():
    with Sink(codes={'victim@example.org': 554,
                     'nobody@example.org': 550}) as sink, \
            Instance(sink=sink, rules_text=RULES,
                     conf_overrides={'abuse_reject_max': 2,
                                     'abuse_bounce_min': 3,
                                     'abuse_bounce_pct': 50}) as inst:
        send(inst, '127.0.0.3', 'dev3.example.com', 'victim@example.org', 2)
        send(inst, '127.0.0.4', 'dev4.example.com', 'nobody@example.org', 3)
        send(inst, '127.0.0.5', 'dev5.example.com', 'fine@example.org', 3)
        check('5.7.x refusals: alert reason=rejected', inst.wait_log(
            r'abuse: alert account=device:127\.0\.0\.3/dev3\.example\.com '
            r'customer=example reason=rejected .*rejected_24h=2 '
            r'bounced_24h=2', 30), inst.log_tail())
        check('bounces: alert reason=bounced', inst.wait_log(
            r'abuse: alert account=device:127\.0\.0\.4/dev4\.example\.com '
            r'customer=example reason=bounced .*rejected_24h=0 '
            r'bounced_24h=3 delivered_24h=0', 30), inst.log_tail())
        # one mail per admin address per few minutes: both in it, or
        # the first now and the second held for the next
        check('the admin hears of them in one mail', wait_until(
            lambda: len([m for m in list(sink.messages)
                         if 'admin@example.org' in m.rcpts and
                         b'abuse alert' in m.data]) == 1, 30))
        check('the delivered device is not alerted',
              not re.search(r'abuse: alert account=device:127\.0\.0\.5',
                            inst.log()))
        dev5 = (r'^ok +device:127\.0\.0\.5/dev5\.example\.com '
                r'.*bounced_24h=0 delivered_24h=3')
        wait_until(lambda: re.search(dev5, inst.relayctl(
            'abuse', 'list').stdout, re.M), 30)
        r = inst.relayctl('abuse', 'list')
        check('relayctl abuse list: dev5 ok, 3 delivered',
              re.search(dev5, r.stdout, re.M), r.stdout + r.stderr)
        test_volume(sink)
    finish()


if __name__ == '__main__':
    main()
