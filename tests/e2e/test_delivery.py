#!/usr/bin/python3
"""test_delivery.py: the queue -> relay-send -> relay-remote path against a
real receiving server.  Messages are injected with relay-queue by hand
(the qmail-queue contract), so this runs without the SMTP front end:
  - a 451-then-250 recipient is deferred, retried, and arrives once;
  - a 550 recipient makes an RFC 3464 bounce to the sender (through the
    relayhost, i.e. the sink) that Python's email package reads as
    multipart/report with the right Status and Diagnostic-Code, while the
    other recipient of the same message is delivered;
  - a message from the null sender that bounces makes no bounce;
  - the whole path from an SMTP client, and delay warning + expiry;
  - relay-queue under faketime 6 days back: expired at once (4.4.7)."""
import email
import email.policy
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, Sink, check, finish,  # noqa: E402
                     smtp_session)


def inject(inst, sender, rcpts, body, info=None, prefix=()):
    """Run relay-queue -d DIR with the message on fd 0, the envelope on
    fd 1 (prefix: a command to run it under, e.g. faketime); returns
    (exit status, stderr)."""
    env = b''
    for k, v in (info or {'ip': '127.0.0.1', 'helo': 'client.test'}).items():
        env += b'I%s=%s\0' % (k.encode(), v.encode())
    env += b'F' + sender.encode() + b'\0'
    for r in rcpts:
        env += b'T' + r.encode() + b'\0'
    env += b'\0'
    envpath = inst.path('env.%d' % time.monotonic_ns())
    msgpath = envpath + '.msg'
    with open(envpath, 'wb') as f:
        f.write(env)
    with open(msgpath, 'wb') as f:
        f.write(body)
    with open(msgpath, 'rb') as m, open(envpath, 'rb') as e:
        p = subprocess.run(list(prefix) +
                           [os.path.join(BIN, 'relay-queue'), '-d', inst.dir],
                           stdin=m, stdout=e, stderr=subprocess.PIPE,
                           timeout=60, env=dict(
                               os.environ,
                               ASAN_OPTIONS='verify_asan_link_order=0'))
    os.unlink(envpath)
    os.unlink(msgpath)
    return p.returncode, p.stderr.decode(errors='replace')


def wait(cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_retry():
    with Sink(codes={'slow@example.org': [451, 250]}) as sink, \
            Instance(sink=sink, conf_overrides={'retry_min': 1,
                                                'retry_max': 2}) as inst:
        body = b'Subject: retry\r\nMessage-ID: <retry@test>\r\n\r\nhello\r\n'
        rc, err = inject(inst, 'a@example.com', ['slow@example.org'], body)
        check('retry: relay-queue exits 0', rc == 0, err)
        got = sink.wait_for(1, 40)
        check('retry: delivered after a 451', got, inst.log_tail())
        check('retry: the 451 was logged as deferred',
              inst.wait_log(r'to=<slow@example.org>.*status=deferred', 5),
              inst.log_tail())
        check('retry: queue empty after delivery',
              inst.wait_queue_empty(20), inst.log_tail())
        time.sleep(2)
        n = len([m for m in sink.messages if 'slow@example.org' in m.rcpts])
        check('retry: delivered exactly once', n == 1, 'got %d' % n)
        if sink.messages:
            data = sink.messages[0].data
            check('retry: Received header names the queue id',
                  data.startswith(b'Received: from client.test ([127.0.0.1])')
                  and b'\r\n\tfor <slow@example.org>;' in data, data[:300])
            check('retry: body intact', data.endswith(body), data[-200:])


def find_bounce(sink):
    for m in sink.messages:
        if m.mail_from in ('', '<>'):
            return m
    return None


def test_bounce():
    with Sink(codes={'bad@example.org': 550}) as sink, \
            Instance(sink=sink) as inst:
        body = (b'Subject: will bounce\r\nMessage-ID: <b1@test>\r\n'
                b'From: a@example.com\r\n\r\nbody\r\n')
        rc, err = inject(inst, 'a@example.com',
                         ['bad@example.org', 'good@example.org'], body)
        check('bounce: relay-queue exits 0', rc == 0, err)
        check('bounce: the good recipient is delivered',
              wait(lambda: any('good@example.org' in m.rcpts
                               for m in sink.messages), 30), inst.log_tail())
        check('bounce: a DSN arrives',
              wait(lambda: find_bounce(sink) is not None, 30),
              inst.log_tail())
        b = find_bounce(sink)
        if not b:
            return
        check('bounce: DSN goes to the sender', b.rcpts == ['a@example.com'],
              repr(b.rcpts))
        msg = email.message_from_bytes(b.data, policy=email.policy.default)
        check('bounce: multipart/report',
              msg.get_content_type() == 'multipart/report' and
              msg.get_param('report-type') == 'delivery-status',
              msg.get('Content-Type'))
        parts = list(msg.iter_parts()) if msg.is_multipart() else []
        types = [p.get_content_type() for p in parts]
        check('bounce: three parts', types == [
            'text/plain', 'message/delivery-status', 'text/rfc822-headers'],
            repr(types))
        ds = [p for p in parts
              if p.get_content_type() == 'message/delivery-status']
        text = b.data.decode(errors='replace')
        check('bounce: Final-Recipient', 'Final-Recipient: rfc822; '
              'bad@example.org' in text, text[:2000])
        check('bounce: good recipient not reported',
              'rfc822; good@example.org' not in text, text[:2000])
        check('bounce: Action failed, Status 5.x.x',
              'Action: failed' in text and
              any(line.startswith('Status: 5.') for line in
                  text.splitlines()), text[:2000])
        check('bounce: Diagnostic-Code smtp; 550',
              'Diagnostic-Code: smtp; 550' in text, text[:2000])
        check('bounce: delivery-status part parsed', len(ds) == 1)
        check('bounce: original headers included',
              'Subject: will bounce' in text and 'Message-ID: <b1@test>'
              in text, text[-800:])
        check('bounce: original message leaves the queue',
              inst.wait_queue_empty(20), inst.log_tail())
        # a bounce of a bounce: null sender, double-bounce kind
        n0 = len(sink.messages)
        rc, err = inject(inst, '', ['bad@example.org'],
                         b'Subject: dsn\r\n\r\nx\r\n',
                         {'dsn': 'double'})
        check('double bounce: injected', rc == 0, err)
        check('double bounce: dropped and logged',
              inst.wait_log(r'double bounce dropped', 30), inst.log_tail())
        time.sleep(1)
        check('double bounce: nothing sent', len(sink.messages) == n0,
              repr(sink.messages[n0:]))


def test_delay_and_expiry():
    with Sink(codes={'stuck@example.org': 451}) as sink, \
            Instance(sink=sink, conf_overrides={
                'retry_min': 1, 'retry_max': 1, 'delay_warning': 2,
                'queue_lifetime': 6}) as inst:
        rc, err = inject(inst, 'a@example.com', ['stuck@example.org'],
                         b'Subject: stuck\r\nMessage-ID: <s1@test>\r\n\r\nx\r\n')
        check('delay: injected', rc == 0, err)

        def dsns():
            return [m for m in sink.messages if m.mail_from in ('', '<>')]
        check('delay: a warning and then a bounce arrive',
              wait(lambda: len(dsns()) >= 2, 40), inst.log_tail())
        texts = [m.data.decode(errors='replace') for m in dsns()]
        warn = [t for t in texts if 'Action: delayed' in t]
        bounce = [t for t in texts if 'Action: failed' in t]
        check('delay: one warning (Action: delayed, Status 4.x.x)',
              len(warn) == 1 and 'Status: 4.' in warn[0] and
              'Will-Retry-Until:' in warn[0], repr(texts))
        check('expiry: one bounce with Status 4.4.7',
              len(bounce) == 1 and 'Status: 4.4.7' in bounce[0] and
              'expired' in bounce[0], repr(texts))
        check('expiry: all DSNs go to the sender',
              all(m.rcpts == ['a@example.com'] for m in dsns()))
        check('expiry: queue empty', inst.wait_queue_empty(20),
              inst.log_tail())


def test_faketime_expiry():
    """relay-queue run under faketime 6 days in the past: relay-send finds
    a message older than queue_lifetime, bounces it without trying, and
    the DSN's Arrival-Date is 6 days back."""
    if not shutil.which('faketime'):
        print('SKIP faketime expiry: no faketime')
        return
    with Sink() as sink, Instance(sink=sink) as inst:
        rc, err = inject(inst, 'a@example.com', ['old@example.org'],
                         b'Subject: old\r\n\r\nx\r\n',
                         prefix=('faketime', '-f', '-6d'))
        check('faketime: injected', rc == 0, err)
        check('faketime: bounced as expired without a delivery attempt',
              wait(lambda: find_bounce(sink) is not None, 30) and
              not any('old@example.org' in m.rcpts for m in sink.messages),
              inst.log_tail())
        b = find_bounce(sink)
        text = b.data.decode(errors='replace') if b else ''
        want = time.strftime('%d %b %Y', time.localtime(time.time() - 6 * 86400))
        check('faketime: Status 4.4.7 and Arrival-Date 6 days back',
              'Status: 4.4.7' in text and
              ('Arrival-Date: %s, %s' % (time.strftime('%a', time.localtime(
                  time.time() - 6 * 86400)), want.lstrip('0'))) in text,
              text[:1500])


def test_smtp_path():
    """The whole path: SMTP client -> relay-smtpd -> relay-queue daemon ->
    relay-send -> relay-remote -> receiver, with a 451 on the way."""
    with Sink(codes={'later@example.org': [451, 250]}) as sink, \
            Instance(sink=sink, conf_overrides={'retry_min': 1,
                                                'retry_max': 2}) as inst:
        body = b'Subject: via smtp\r\nMessage-ID: <smtp1@test>\r\n\r\nhi\r\n'
        try:
            with smtp_session(inst.port) as c:
                refused = c.sendmail('a@example.com', ['later@example.org',
                                                       'now@example.org'],
                                     body)
            check('smtp: accepted', not refused, repr(refused))
        except Exception as e:  # the front end is another part's
            check('smtp: accepted', False, repr(e))
            return
        check('smtp: both recipients delivered',
              wait(lambda: {r for m in sink.messages for r in m.rcpts} ==
                   {'later@example.org', 'now@example.org'}, 30),
              inst.log_tail())
        check('smtp: each exactly once',
              sorted(r for m in sink.messages for r in m.rcpts) ==
              ['later@example.org', 'now@example.org'], repr(sink.messages))
        check('smtp: queue empty', inst.wait_queue_empty(20))
        if sink.messages:
            check('smtp: body intact after the Received header',
                  sink.messages[0].data.endswith(body), sink.messages[0].data)


if __name__ == '__main__':
    test_smtp_path()
    test_retry()
    test_bounce()
    test_delay_and_expiry()
    test_faketime_expiry()
    finish()
