#!/usr/bin/python3
"""test_abuse_restart.py: abuse monitoring across relay-queue restarts.

Crash consistency: dev4 (127.0.0.4) is suspended for bounces
(abuse_grace=0).  Then what a crash can leave is made by hand: the
accounts file a write older (dev4 "alerted", after 16 other accounts
with abuse_accounts_max=16) and a line in abuse/suspended the accounts
file never knew (dev9); relay-queue is killed (SIGKILL) and relay-master
starts it again.  Every line of abuse/suspended is in force after the
start (relayctl abuse list says suspended, dev9 refused), relayctl abuse
release of dev4 drops its line and dev4 relays, while dev9 stays
refused (the file is rewritten from memory without losing a line).

The grace across a restart, on a faketime clock (test_abuse.Clock): dev3
is alerted for bounces and sends nothing more; relay-queue is stopped
(SIGTERM) and started 20 hours later; at alert + 24 h 15 min its counts
have left the 24 hours as without a restart, so it is cleared, not
suspended.

The alert mail's rate limit across restarts: dev5 is alerted for
bounces, its admin gets one mail; relay-queue is stopped and started
twice: no second mail before abuse_alert_every (6 h) has passed.

A stop keeps the last second: relay-queue writes abuse/accounts at most
once a second, and a stop (SIGTERM) used to end it before the write of
what it had just counted.  dev6, dev7 and dev8 each bounce one message
(no alert: abuse_bounce_min=100); relay-queue is stopped 0.3 s after
relay-send's bounce line, and after the restart abuse/accounts still
has the bounce; relay-queue still dies of the SIGTERM (relay-master's
log says so).  The old relay-queue lost at least one of the three in
most runs.

A stop takes the signals already sent: relay-send's report frames that
reached queue.sock before the SIGTERM are counted, not left in the
socket.  A frame for device:127.0.0.21 goes over an open connection
while relay-queue is stopped (SIGSTOP), then SIGTERM and SIGCONT: the
handler runs before the loop reads again.  After the restart
abuse/accounts has its bounce (the old relay-queue wrote the files and
died with the frame unread).

The bounces all come from one domain: abuse_reject_domains=1 lets one
domain alone alert (test_abuse_bounce.py tests the default, 3)."""
import os
import re
import signal
import smtplib
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     ns_frame, smtp_session, wait_until)

RULES = """\
customer example licenses=1000 admin=admin@example.org
domain example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
"""
DEV4 = 'device:127.0.0.4'
DEV9 = 'device:127.0.0.9'


def send(inst, ip, helo, rcpt, n=1):
    for i in range(n):
        with smtp_session(inst.port, source_ip=ip) as c:
            c.ehlo(helo)
            c.sendmail('printer@example.com', [rcpt],
                       b'Subject: n%d\r\n\r\nx\r\n' % i)


def mail_from(inst, ip, helo):
    """relay-policy's answer to MAIL from the device: (code, text)."""
    with smtp_session(inst.port, source_ip=ip) as c:
        c.ehlo(helo)
        code, text = c.docmd('MAIL', 'FROM:<printer@example.com>')
        return code, text.decode(errors='replace')


def read(inst, rel):
    try:
        with open(inst.path(rel)) as f:
            return f.read()
    except OSError:
        return ''


def rewrite(inst, rel, text):
    """Over the file in place (its owner and mode stay relay-queue's)."""
    with open(inst.path(rel), 'w') as f:
        f.write(text)


def restart_queue(inst, sig):
    """Kill relay-queue; relay-master starts it again.  True when the new
    one is listening."""
    before = re.findall(r'started relay-queue pid=(\d+)', inst.log())
    listening = len(re.findall(r'relay-queue\[\d+\]: info: listening on',
                               inst.log()))
    os.kill(int(before[-1]), sig)
    return wait_until(lambda: len(re.findall(
        r'relay-queue\[\d+\]: info: listening on', inst.log())) > listening,
        30)


def set_conf(inst, key, value):
    path = inst.path('relay.conf')
    with open(path) as f:
        text = f.read()
    text, n = re.subn(r'^%s\s*=.*$' % key, '%s = %s' % (key, value), text,
                      flags=re.M)
    if not n:
        text += '%s = %s\n' % (key, value)
    with open(path, 'w') as f:
        f.write(text)


def test_crash():
    with Sink(codes={'nobody@example.org': 550}) as sink, \
            Instance(sink=sink, rules_text=RULES,
                     conf_overrides={'abuse_reject_domains': 1,
                                     'abuse_bounce_min': 2,
                                     'abuse_bounce_pct': 50,
                                     'abuse_accounts_max': 16,
                                     'abuse_grace': 0}) as inst:
        send(inst, '127.0.0.4', 'dev4.example.com', 'nobody@example.org', 2)
        check('dev4 suspended for bounces', inst.wait_log(
            r'abuse: suspended account=' + re.escape(DEV4), 30),
            inst.log_tail())
        check('abuse/suspended names it', wait_until(
            lambda: 'device 127.0.0.4\n' in
            read(inst, 'abuse/suspended'), 10), read(inst, 'abuse/suspended'))
        # what a crash can leave: the accounts file one write behind and
        # past abuse_accounts_max, abuse/suspended ahead of it
        set_conf(inst, 'abuse_grace', 86400)
        lines = read(inst, 'abuse/accounts').splitlines()
        fill = ['account=device:10.0.0.%d customer=example '
                'state=ok' % i for i in range(16)]
        rewrite(inst, 'abuse/accounts', '\n'.join(
            lines[:1] + fill + [l.replace('state=suspended', 'state=alerted')
                                for l in lines[1:]]) + '\n')
        rewrite(inst, 'abuse/suspended', read(inst, 'abuse/suspended') +
                'device 127.0.0.9\n')
        check('relay-queue killed and started again',
              restart_queue(inst, signal.SIGKILL), inst.log_tail())
        wait_until(lambda: re.search(
            r'^suspended +' + re.escape(DEV9),
            inst.relayctl('abuse', 'list').stdout, re.M), 10)
        r = inst.relayctl('abuse', 'list')
        check('after the start dev4 is suspended (abuse/suspended wins)',
              re.search(r'^suspended +' + re.escape(DEV4), r.stdout, re.M),
              r.stdout + r.stderr)
        check('after the start dev9 is suspended (a line only there)',
              re.search(r'^suspended +' + re.escape(DEV9), r.stdout, re.M),
              r.stdout + r.stderr)
        r = inst.relayctl('abuse', 'release', DEV4)
        check('release dev4: done', r.returncode == 0, r.stdout + r.stderr)
        check('abuse/suspended: dev4 gone, dev9 kept',
              read(inst, 'abuse/suspended') ==
              'device 127.0.0.9\n',
              read(inst, 'abuse/suspended'))
        ok = wait_until(lambda: mail_from(inst, '127.0.0.4',
                                          'dev4.example.com')[0] == 250, 10)
        check('dev4 relays after the release', ok,
              str(mail_from(inst, '127.0.0.4', 'dev4.example.com')))
        code, text = mail_from(inst, '127.0.0.9', 'dev9.example.com')
        check('dev9 still refused', code == 550 and 'suspended' in text,
              '%s %s' % (code, text))
        r = inst.relayctl('abuse', 'release', DEV9)
        check('release dev9: done', r.returncode == 0, r.stdout + r.stderr)
        check('abuse/suspended empty', read(inst, 'abuse/suspended') == '',
              read(inst, 'abuse/suspended'))
        r = inst.relayctl('abuse', 'release', 'device:127.0.0.8')
        check('release of an unknown account: refused', r.returncode != 0,
              r.stdout + r.stderr)


def test_grace_restart():
    import shutil
    import tempfile
    from test_abuse import Clock
    folder = tempfile.mkdtemp(prefix='relaybox-abuse-restart-')
    os.chmod(folder, 0o755)
    clock = Clock(folder)
    saved = dict(os.environ)
    try:
        os.environ.update(clock.environ())
        with Sink(codes={'nobody@example.org': 550}) as sink, \
                Instance(sink=sink, rules_text=RULES,
                         conf_overrides={'abuse_reject_domains': 1,
                                         'abuse_bounce_min': 2,
                                         'abuse_bounce_pct': 50}) as inst:
            send(inst, '127.0.0.3', 'dev3.example.com', 'nobody@example.org',
                 2)
            check('dev3 alerted for bounces', inst.wait_log(
                r'abuse: alert account=device:127\.0\.0\.3 ', 30),
                inst.log_tail())
            clock.set('+20h')
            check('20 h later relay-queue stopped and started again',
                  restart_queue(inst, signal.SIGTERM), inst.log_tail())
            acc = read(inst, 'abuse/accounts')
            check('abuse/accounts keeps the counts with their hour',
                  re.search(r' hour=[0-9]+ .*bounced_hours=[0-9]+:2\b', acc), acc)
            clock.set('+1455m')
            m = inst.wait_log(r'abuse: (suspended|cleared) account=device:'
                              r'127\.0\.0\.3 ', 30)
            check('at alert + 24 h 15 min: cleared (the counts aged out)',
                  m and m.group(1) == 'cleared', inst.log_tail())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)


def alert_mails(sink):
    return len([m for m in list(sink.messages)
                if 'admin@example.org' in m.rcpts and b'abuse alert' in m.data])


def test_remail():
    with Sink(codes={'nobody@example.org': 550}) as sink, \
            Instance(sink=sink, rules_text=RULES,
                     conf_overrides={'abuse_reject_domains': 1,
                                     'abuse_bounce_min': 2,
                                     'abuse_bounce_pct': 50}) as inst:
        send(inst, '127.0.0.5', 'dev5.example.com', 'nobody@example.org', 2)
        check('dev5 alerted, its admin mailed',
              wait_until(lambda: alert_mails(sink) == 1, 30), inst.log_tail())
        check('abuse/accounts keeps when it was mailed', wait_until(
            lambda: re.search(r'account=device:127\.0\.0\.5 .* mailed='
                              r'[1-9]', read(inst, 'abuse/accounts')), 10),
              read(inst, 'abuse/accounts'))
        for n in (1, 2):
            check('relay-queue restart %d' % n,
                  restart_queue(inst, signal.SIGTERM), inst.log_tail())
            wait_until(lambda: alert_mails(sink) > 1, 4)
            check('after restart %d: still one alert mail' % n,
                  alert_mails(sink) == 1, str(alert_mails(sink)))


def test_stop_keeps_last_counts():
    import time
    with Sink(codes={'nobody@example.org': 550}) as sink, \
            Instance(sink=sink, rules_text=RULES,
                     conf_overrides={'abuse_reject_domains': 1,
                                     'abuse_bounce_min': 100}) as inst:
        for last in (6, 7, 8):
            bounced = inst.log().count('status=bounced')
            send(inst, '127.0.0.%d' % last, 'dev%d.example.com' % last,
                 'nobody@example.org')
            wait_until(lambda: re.search(
                r'relay-send\[\d+\]: .*status=bounced',
                inst.log()[-4000:]) and
                inst.log().count('status=bounced') > bounced, 30)
            time.sleep(0.3)  # relay-queue has read the signal by now
            check('dev%d: relay-queue stopped and started again' % last,
                  restart_queue(inst, signal.SIGTERM), inst.log_tail())
            acc = read(inst, 'abuse/accounts')
            check('dev%d: its bounce is in abuse/accounts after the stop'
                  % last, re.search(r'account=device:127\.0\.0\.%d .*'
                                    r'bounced_hours=[0-9]+:1\b' % last, acc),
                  acc)
        check('relay-queue still dies of the SIGTERM', len(re.findall(
            r'relay-queue pid=\d+ killed by signal 15', inst.log())) == 3,
            inst.log_tail())


def signal_frame(device):
    """relay-send's report of one bounce at example.org for device."""
    return ns_frame(('op=signal\naccount=device:%s\ncustomer=example\n'
                     'qid=test\ndelivered=0\nbounced=1\nrejected=0\n'
                     'bounced_msgs=1\nbounced_domains=example.org\n'
                     % device).encode())


def bounced_once(inst, device):
    return re.search(r'account=device:%s .*bounced_hours=[0-9]+:1\b'
                     % re.escape(device), read(inst, 'abuse/accounts'))


def stopped(pid):
    """True when every thread of pid is stopped (SIGSTOP)."""
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
        return all(open('/proc/%d/task/%s/stat' % (pid, t)).read()
                   .rpartition(')')[2].split()[0] == 'T' for t in tasks)
    except OSError:
        return False


def test_stop_reads_signals_sent():
    with Instance(rules_text=RULES,
                  conf_overrides={'abuse_bounce_min': 100}) as inst:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(inst.path('run/queue.sock'))
            s.sendall(signal_frame('127.0.0.20'))
            check('a signal on the connection is counted', wait_until(
                lambda: bounced_once(inst, '127.0.0.20'), 10),
                read(inst, 'abuse/accounts'))
            pid = int(re.findall(r'started relay-queue pid=(\d+)',
                                 inst.log())[-1])
            listening = len(re.findall(
                r'relay-queue\[\d+\]: info: listening on', inst.log()))
            os.kill(pid, signal.SIGSTOP)
            try:
                wait_until(lambda: stopped(pid), 10)
                s.sendall(signal_frame('127.0.0.21'))
                os.kill(pid, signal.SIGTERM)
            finally:
                os.kill(pid, signal.SIGCONT)
            check('relay-queue stopped and started again', wait_until(
                lambda: len(re.findall(
                    r'relay-queue\[\d+\]: info: listening on',
                    inst.log())) > listening, 30), inst.log_tail())
            check('the frame sent before the stop is in abuse/accounts',
                  bounced_once(inst, '127.0.0.21'),
                  read(inst, 'abuse/accounts'))
            check('relay-queue died of the SIGTERM', re.search(
                r'relay-queue pid=%d killed by signal 15' % pid, inst.log()),
                inst.log_tail())
        finally:
            s.close()


def main():
    test_stop_reads_signals_sent()
    test_stop_keeps_last_counts()
    test_crash()
    test_remail()
    test_grace_restart()
    finish()


if __name__ == '__main__':
    main()
