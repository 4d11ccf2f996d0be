#!/usr/bin/python3
"""test_metrics.py: relay-metrics (man/relay-metrics.8) during a real run.

- N messages accepted and delivered, K deferred by the receiving server
  (451), M senders refused with 550 5.7.1: /metrics shows exactly those
  counts (accepted messages, policy decisions by code, deliveries by
  result and by destination), and `promtool check metrics` passes on it;
- conf/relay-alerts.yml passes `promtool check rules`;
- a non-loopback metrics_listen without credentials and TLS is refused
  (relay-metrics exits 100 and says why), and with credentials a request
  without them or with a wrong password gets 401, the right one 200; an
  unknown user's refusal takes a hash check, as a wrong password's does;
- metrics_tls = yes: HTTPS with the relay's certificate, which relay-master
  hands over in its TLS store (verified against the test CA), and the
  password checked inside it;
- metrics_alert_mail: a queue older than metrics_alert_queue makes one
  alert mail to the operator, through the relay (the sink gets it), and
  no second one while the alert lasts (metrics_alert_mail_every); one the
  relay refused is mailed again at a later sample once it accepts.
"""
import base64
import http.client
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from certs import TestCerts  # noqa: E402
from harness import (BIN, Instance, Sink, check, finish,  # noqa: E402
                     free_port, smtp_session, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
ALERTS = os.path.join(HERE, '..', '..', 'conf', 'relay-alerts.yml')
RULES = """\
customer one licenses=10 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""
N, K, M = 5, 2, 3
# After a wrong password, the next check from that address waits a second
# (metrics/mon_http_auth.c: 429 before then).
FAILURE_PAUSE = 1.2


def get(url, auth=None, timeout=10, ctx=None):
    """(status, body) of a GET."""
    req = urllib.request.Request(url)
    if auth:
        req.add_header('Authorization', 'Basic ' +
                       base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors='replace')
    except OSError as e:
        return 0, str(e)


def value(text, name, labels=''):
    """The value of one sample, or None."""
    want = name + ('{%s}' % labels if labels else '')
    for line in text.splitlines():
        if line.startswith(want + ' '):
            return float(line.split()[-1])
    return None


def send(port, sender, rcpt):
    s = smtp_session(port)
    try:
        s.ehlo('client.test')
        code, _ = s.mail(sender)
        if code != 250:
            return code, s.rset()
        s.rcpt(rcpt)
        code, _ = s.data(b'Subject: m\r\n\r\nhello\r\n')
        return code, None
    finally:
        s.quit()


def test_counts():
    mport = free_port()
    with Sink(codes={'later@slow.example': [451] * 50}) as sink, \
            Instance(sink=sink, rules_text=RULES, conf_overrides={
                'metrics_listen': '127.0.0.1:%d' % mport,
                'retry_min': 300, 'retry_max': 600}) as inst:
        url = 'http://127.0.0.1:%d/metrics' % mport
        ok = [send(inst.port, 'a@one.example', 'b%d@example.org' % i)[0]
              for i in range(N)]
        ok += [send(inst.port, 'a@one.example', 'later@slow.example')[0]
               for _ in range(K)]
        refused = [send(inst.port, 'x@foreign.example', 'c@example.org')[0]
                   for _ in range(M)]
        check('metrics: the messages were accepted',
              ok == [250] * (N + K), str(ok))
        check('metrics: the foreign senders were refused',
              refused == [550] * M, str(refused))
        text = ['']

        def settled():
            text[0] = get(url)[1]
            return (value(text[0], 'relay_deliveries_total',
                          'result="sent"') == N and
                    value(text[0], 'relay_deliveries_total',
                          'result="deferred"') == K)
        check('metrics: deliveries by result (%d sent, %d deferred)' % (N, K),
              wait_until(settled, 30), text[0][-3000:] + inst.log_tail())
        t = text[0]
        check('metrics: accepted messages',
              value(t, 'relay_accepted_messages_total') == N + K)
        check('metrics: accepted recipients',
              value(t, 'relay_accepted_recipients_total') == N + K)
        check('metrics: 550 5.7.1 at MAIL counted',
              value(t, 'relay_policy_decisions_total',
                    'phase="mail",code="550",esc="5.7.1"') == M,
              '\n'.join(x for x in t.splitlines() if 'decisions' in x))
        check('metrics: destination example.org sent',
              value(t, 'relay_destination_deliveries_total',
                    'destination="example.org",result="sent"') == N)
        check('metrics: destination slow.example deferred',
              value(t, 'relay_destination_deliveries_total',
                    'destination="slow.example",result="deferred"') == K)
        check('metrics: slow.example deferring since',
              (value(t, 'relay_destination_deferring_since_seconds',
                     'destination="slow.example"') or 0) > 0)
        # the queue's gauges follow relay-send's passes, at most one a
        # second: a look skipped in one second is made the next, not at
        # the next pass (up to a minute later)
        check('metrics: the deferred messages are in the queue',
              wait_until(lambda: value(get(url)[1], 'relay_queue_messages',
                                       'state="deferred"') == K, 20))
        check('metrics: delivery delay histogram counts the sent',
              value(t, 'relay_delivery_delay_seconds_count') == N)
        check('metrics: sessions counted',
              (value(t, 'relay_smtpd_sessions_total',
                     'listener="%d",outcome="quit"' % inst.port) or 0)
              >= N + K + M, '\n'.join(x for x in t.splitlines()
                                      if 'sessions' in x))
        check('metrics: relay-listen up',
              value(t, 'relay_daemon_up', 'daemon="relay-listen"') == 1)
        check('metrics: customer usage counted',
              value(t, 'relay_customer_recipients',
                    'customer="one",window="24h"') == N + K)
        check('metrics: customer headroom',
              value(t, 'relay_customer_headroom',
                    'customer="one",window="24h"') == 1300 - N - K)
        p = subprocess.run(['promtool', 'check', 'metrics'], input=t,
                           capture_output=True, text=True, timeout=60)
        check('metrics: promtool check metrics passes',
              p.returncode == 0, p.stdout + p.stderr)
        s, body = get('http://127.0.0.1:%d/nothing' % mport)
        check('metrics: unknown path is 404', s == 404, '%d' % s)
        no_names_without_creds(mport, t)


def no_names_without_creds(mport, t):
    """No metrics_passwd: any local uid can connect, so the log (every
    envelope, client IP, AUTH user) is refused and /metrics names no
    user; customers and destinations stay."""
    s, body = get('http://127.0.0.1:%d/log?from=a%%40one.example' % mport)
    check('no credentials: /log is 403 and says to set metrics_passwd',
          s == 403 and 'metrics_passwd' in body and
          'a@one.example' not in body, '%d %s' % (s, body[:2000]))
    check('no credentials: /metrics names no user',
          'relay_user_usage{' not in t and 'a@one.example' not in t,
          '\n'.join(x for x in t.splitlines() if 'one.example' in x))
    s, body = get('http://127.0.0.1:%d/' % mport)
    check('no credentials: the status page names no user',
          s == 200 and 'a@one.example' not in body, '%d' % s)


def test_rules():
    p = subprocess.run(['promtool', 'check', 'rules', ALERTS],
                       capture_output=True, text=True, timeout=60)
    check('alerts: promtool check rules passes on conf/relay-alerts.yml',
          p.returncode == 0, p.stdout + p.stderr)


def passwd_file(path):
    h = subprocess.run([os.path.join(BIN, 'relayctl'), 'passwd'],
                       input='secret\n', capture_output=True, text=True,
                       timeout=60).stdout.strip()
    with open(path, 'w') as f:
        f.write('# relay-metrics users\nops:%s\n' % h)
    os.chmod(path, 0o600)


def test_tls():
    port = free_port()
    with TestCerts(names=['relaybox.test'], ips=['127.0.0.1']) as c:
        pw = os.path.join(c.dir, 'metrics.passwd')
        passwd_file(pw)
        conf = dict(c.conf(), metrics_listen='127.0.0.1:%d' % port,
                    metrics_tls='yes', metrics_passwd=pw)
        with Instance(rules_text=RULES, conf_overrides=conf) as inst:
            url = 'https://127.0.0.1:%d/metrics' % port
            ctx = c.client_context()
            up = wait_until(lambda: get(url, timeout=2, ctx=ctx)[0] != 0, 20)
            check('tls: serves HTTPS with the relay certificate', up,
                  get(url, timeout=2, ctx=ctx)[1] + inst.log_tail())
            s, _ = get(url, 'ops:wrong', ctx=ctx)
            check('tls: wrong password: 401', s == 401, '%d' % s)
            time.sleep(FAILURE_PAUSE)
            s, body = get(url, 'ops:secret', ctx=ctx)
            check('tls: right password: 200 and the metrics',
                  s == 200 and 'relay_daemon_up' in body, '%d' % s)
            s, _ = get('http://127.0.0.1:%d/metrics' % port, 'ops:secret',
                       timeout=3)
            check('tls: plain HTTP gets nothing', s != 200, '%d' % s)


def alert_instance(sink, sender):
    """An instance that mails its alerts to ops@example.org from sender;
    a queue older than 1 s is an alert, and it stays (no retry soon)."""
    return Instance(sink=sink, rules_text=RULES, conf_overrides={
        'metrics_listen': '127.0.0.1:%d' % free_port(),
        'metrics_alert_mail': 'ops@example.org',
        'metrics_alert_from': sender,
        'metrics_alert_queue': 1,
        'retry_min': 300, 'retry_max': 600})


def test_alert_mail():
    with Sink(codes={'later@slow.example': [451] * 50}) as sink, \
            alert_instance(sink, 'relay@one.example') as inst:
        code = send(inst.port, 'a@one.example', 'later@slow.example')[0]
        check('alert mail: the message was accepted', code == 250)

        def alerts():
            return [m for m in sink.messages if 'ops@example.org' in m.rcpts]
        got = wait_until(lambda: alerts(), 45)
        check('alert mail: the operator got one through the relay', got,
              inst.log_tail())
        if not got:
            return
        body = got[0].data.decode(errors='replace')
        check('alert mail: it names the old queue',
              'oldest queued message older than 1s' in body, body)
        time.sleep(21)  # two more samples with the alert still firing
        check('alert mail: no second mail while the alert lasts',
              len(alerts()) == 1, '%d' % len(alerts()))


def test_alert_mail_retry():
    """The relay refuses the first alert mail (its sender's domain is no
    customer's); once the rules accept it, the alert, still firing, is
    mailed at a later sample: a refused mail does not count as mailed."""
    with Sink(codes={'later@slow.example': [451] * 50}) as sink, \
            alert_instance(sink, 'relay@other.example') as inst:
        send(inst.port, 'a@one.example', 'later@slow.example')
        refused = inst.wait_log(r'relay-metrics\[\d+\]: warning: alert '
                                r'mail to=<ops@example.org> not sent', 45)
        check('alert retry: the first alert mail is refused', refused,
              inst.log_tail())
        with open(inst.path('relay.rules'), 'a') as f:
            f.write('domain other.example customer=one\n')
        r = subprocess.run([os.path.join(BIN, 'makecdb'), '-d', inst.dir],
                           capture_output=True, text=True, timeout=60)
        check('alert retry: rules now accept its sender', r.returncode == 0,
              r.stdout + r.stderr)
        got = wait_until(lambda: [m for m in sink.messages
                                  if 'ops@example.org' in m.rcpts], 60)
        check('alert retry: mailed once the relay accepts it', got,
              inst.log_tail())


def run_metrics(inst, listen, extra=''):
    with open(inst.path('relay.conf'), 'a') as f:
        f.write('metrics_listen = %s\n%s' % (listen, extra))
    return subprocess.Popen([os.path.join(BIN, 'relay-metrics'), '-d',
                             inst.dir], stderr=subprocess.PIPE, text=True)


def log_with_creds(inst, port):
    """With metrics_passwd, /log answers a right password only."""
    url = 'http://127.0.0.1:%d/log?from=a%%40one.example' % port
    s, _ = get(url)
    check('access: /log without credentials: 401', s == 401, '%d' % s)
    s, body = get(url, 'ops:secret')
    check('access: /log with credentials finds the line', s == 200 and
          '0123456789ABCDEF: from=&lt;a@one.example&gt;' in body,
          '%d %s' % (s, body[-1500:]))


def refusal(port, auth, src):
    """Seconds to a refusal of auth from src."""
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=10,
                                   source_address=(src, 0))
    t0 = time.monotonic()
    c.request('GET', '/metrics', headers={
        'Authorization': 'Basic ' + base64.b64encode(auth.encode()).decode()})
    status = c.getresponse().status
    took = time.monotonic() - t0
    c.close()
    check('access: %s from its own address: 401' % auth, status == 401,
          '%d' % status)
    return took


def refusal_times(port, auths, first_src):
    """The fastest of eight refusals of each of auths, in seconds: the
    least noisy view of the work a refusal costs.  Taken in turns, so that
    a busy moment of the machine falls on each alike; each from an
    address of its own: an address that just failed is answered 429
    without a check."""
    times = [[] for _ in auths]
    src = first_src
    for _ in range(8):
        for i, auth in enumerate(auths):
            times[i].append(refusal(port, auth, '127.0.0.%d' % src))
            src += 1
    return [min(t) for t in times]



def test_access():
    inst = Instance(rules_text=RULES)
    inst.prepare()
    try:
        port = free_port()
        p = run_metrics(inst, '0.0.0.0:%d' % port)
        try:
            _, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        check('access: a non-loopback address without credentials exits 100',
              p.returncode == 100, '%s %s' % (p.returncode, err))
        check('access: and says why', 'is not loopback: refused' in err, err)
        check('access: nothing listens', get('http://127.0.0.1:%d/' %
                                             port, timeout=2)[0] == 0)
        pw = inst.path('metrics.passwd')
        passwd_file(pw)
        os.makedirs(inst.path('log'), exist_ok=True)
        with open(inst.path('log/relay.log'), 'w') as f:
            f.write('2026-12-07T04:00:00.000 relay-queue[1]: info: '
                    '0123456789ABCDEF: from=<a@one.example> size=9\n')
        os.chmod(inst.path('log'), 0o755)
        os.chmod(inst.path('log/relay.log'), 0o644)
        p = run_metrics(inst, '127.0.0.1:%d' % port,
                        'metrics_passwd = %s\n' % pw)
        try:
            url = 'http://127.0.0.1:%d/metrics' % port
            up = wait_until(lambda: get(url, timeout=2)[0] != 0, 20)
            check('access: serves with credentials', up)
            s, _ = get(url)
            check('access: no credentials: 401', s == 401, '%d' % s)
            s, _ = get(url, 'ops:wrong')
            check('access: wrong password: 401', s == 401, '%d' % s)
            time.sleep(FAILURE_PAUSE)
            s, _ = get(url, 'nobody:secret')
            check('access: unknown user: 401', s == 401, '%d' % s)
            unknown, wrong = refusal_times(port, ('nobody:secret',
                                                  'ops:wrong'), 10)
            time.sleep(FAILURE_PAUSE)
            check('access: an unknown user is refused as slowly as a wrong '
                  'password (one hash check)', unknown >= 0.5 * wrong,
                  'unknown %.4f s, wrong password %.4f s' % (unknown, wrong))
            s, body = get(url, 'ops:secret')
            check('access: right credentials: 200', s == 200, '%d' % s)
            log_with_creds(inst, port)
        finally:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    finally:
        shutil.rmtree(inst.dir, ignore_errors=True)


if __name__ == '__main__':
    test_rules()
    test_access()
    test_tls()
    test_counts()
    test_alert_mail()
    test_alert_mail_retry()
    finish()
