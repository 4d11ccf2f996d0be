#!/usr/bin/python3
"""test_abuse_remote.py: abuse monitoring's signals from the receiving
side, no scanner needed.  relay-send tells relay-queue each delivery
job's results per account: dev3 (127.0.0.3) sends a message to three
domains whose receivers refuse it with 554 5.7.1 (abuse_reject_max=2,
abuse_reject_domains 3 by default): alert with reason=rejected and a
mail to the admin.  dev7 sends 3 messages, each to 10 recipients of one
hostile domain refusing all with 554 5.7.1 (and 11 delivered): 3 refusals (one a message
and domain, not 30), and no alert, one domain alone never reaching the
threshold; dev8's recipients are refused with "550 5.1.1 ... 5.7.1-faq"
(5.7.1 in the text, not the enhanced code): bounces, no refusal; dev4 (127.0.0.4) sends to
recipients that do not exist (550 5.1.1) at three domains, past
abuse_bounce_min at a ratio over abuse_bounce_pct: alert with
reason=bounced (test_abuse_bounce.py: one domain alone cannot).  dev5, whose
mail is delivered, stays ok; relayctl abuse list shows the counts.
Volume, with every daemon on a faketime clock (test_abuse.Clock): dev6
sends 6 messages on its first day (over abuse_volume_min, but no
baseline yet: no alert), then, a day later, 6 in an hour against a
baseline of a fraction of one an hour: alert with reason=volume."""
import os
import re
import smtplib
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
domain dev7.example.com customer=example
domain dev8.example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
"""


def send(inst, ip, helo, rcpts, n):
    """n messages to rcpts (one address or a list)."""
    rcpts = [rcpts] if isinstance(rcpts, str) else rcpts
    for i in range(n):
        with smtp_session(inst.port, source_ip=ip) as c:
            c.ehlo(helo)
            try:
                c.sendmail('printer@example.com', rcpts,
                           b'Subject: n%d\r\n\r\nx\r\n' % i)
            except smtplib.SMTPRecipientsRefused:
                pass


def accounts(inst):
    try:
        with open(inst.path('abuse/accounts')) as f:
            return f.read()
    except OSError:
        return ''


def counts(inst, ip):
    """The bounced and rejected counts of the device at ip (a dict)."""
    for line in accounts(inst).splitlines():
        if line.startswith('account=device:%s/' % ip):
            f = dict(w.split('=', 1) for w in line.split() if '=' in w)
            return {k: f.get(k) for k in ('bounced_24h', 'rejected_24h')}
    return {}


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
                      # the 5th already crosses: abuse_volume_min
                      r'.*this_hour=[56] baseline_per_hour=0\.[0-9]', 30),
                  inst.log_tail())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)


def main():
    codes = {'victim@%s.example' % d: 554 for d in 'abc'}
    codes.update({'u%d@hostile.example' % i: 554 for i in range(10)})
    codes.update({'faq%d@example.net' % i: '550 5.1.1 no such user, see '
                  'https://help.example/5.7.1-faq' for i in range(2)})
    nobody = ['nobody@example.%s' % t for t in ('org', 'net', 'info')]
    codes.update({a: 550 for a in nobody})
    with Sink(codes=codes) as sink, \
            Instance(sink=sink, rules_text=RULES,
                     conf_overrides={'abuse_reject_max': 2,
                                     'abuse_bounce_min': 3,
                                     'abuse_bounce_pct': 50}) as inst:
        send(inst, '127.0.0.3', 'dev3.example.com',
             ['victim@%s.example' % d for d in 'abc'], 1)
        # with 11 delivered recipients each: under the bounce ratio
        send(inst, '127.0.0.7', 'dev7.example.com',
             ['u%d@hostile.example' % i for i in range(10)] +
             ['ok%d@example.org' % i for i in range(11)], 3)
        send(inst, '127.0.0.8', 'dev8.example.com',
             ['faq%d@example.net' % i for i in range(2)], 1)
        send(inst, '127.0.0.4', 'dev4.example.com', nobody, 1)
        send(inst, '127.0.0.5', 'dev5.example.com', 'fine@example.org', 3)
        check('5.7.x refusals: alert reason=rejected', inst.wait_log(
            r'abuse: alert account=device:127\.0\.0\.3/dev3\.example\.com '
            r'customer=example reason=rejected .*rejected_24h=3 '
            r'bounced_24h=3 delivered_24h=0 rejecting_domains=3 ', 30),
            inst.log_tail())
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
        check('one hostile domain: a refusal per message, no alert',
              wait_until(lambda: counts(inst, '127.0.0.7') ==
                         {'bounced_24h': '30', 'rejected_24h': '3'}, 30) and
              not re.search(r'abuse: alert account=device:127\.0\.0\.7',
                            inst.log()), accounts(inst) + inst.log_tail())
        check('5.7.1 in the text, not the enhanced code: no refusal',
              wait_until(lambda: counts(inst, '127.0.0.8') ==
                         {'bounced_24h': '2', 'rejected_24h': '0'}, 30),
              accounts(inst))
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
