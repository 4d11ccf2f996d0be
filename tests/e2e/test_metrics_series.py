#!/usr/bin/python3
"""test_metrics_series.py: /metrics series that must stay whole and true
(man/relay-metrics.8):

- users whose addresses are long (an address has up to 254 bytes) and
  alike in their first 199 bytes: each user's two relay_user_usage series
  keep both labels (user and kind) and the users stay apart, so no two
  lines have the same labels (Prometheus would keep one and count an
  error); `promtool check metrics` passes;
- as root: relay-smtpd's uid writes into its own area (metrics/smtpd)
  slots of families relay-queue and relay-send publish; /metrics shows
  the same relay_accepted_messages_total and relay_queue_messages as
  before (the reader takes from an area only its publisher's families);
- relay_destination_deliveries_total: a restart of relay-metrics alone,
  with no delivery meanwhile, changes no destination's counter.
"""
import base64
import os
import re
import signal
import struct
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, Sink, as_user, check,  # noqa: E402
                     finish, free_port, is_root, skip, smtp_session,
                     wait_until)

# two users of 210 bytes alike but for their last 11 (a local part has
# at most 64 bytes, a domain's label 63)
BASE = ('abcdefghijklmnopqrstuvwxyz.' * 5)
DOM1, DOM2 = BASE + 'one.example', BASE + 'two.example'
LONG1, LONG2 = 'l' * 63 + '@' + DOM1, 'l' * 63 + '@' + DOM2


def passwd_hash():
    return subprocess.run([os.path.join(BIN, 'relayctl'), 'passwd'],
                          input='secret\n', capture_output=True, text=True,
                          timeout=60).stdout.strip()


def rules(h):
    return ('customer one licenses=10 paid=yes\n'
            'domain one.example customer=one\n'
            'domain %s customer=one\n'
            'domain %s customer=one\n'
            'rule one lo senders=any auth=ip\n'
            'ip one lo 127.0.0.1/32\n'
            'user %s customer=one hash=%s\n'
            'user %s customer=one hash=%s\n' % (DOM1, DOM2, LONG1, h,
                                                   LONG2, h))


def get(url, auth=None):
    req = urllib.request.Request(url)
    if auth:
        req.add_header('Authorization', 'Basic ' +
                       base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 'error: %s' % e


def send(port, sender, rcpts):
    s = smtp_session(port)
    try:
        s.ehlo('client.test')
        s.mail(sender)
        for r in rcpts:
            s.rcpt(r)
        code, _ = s.data(b'Subject: m\r\n\r\nhello\r\n')
        return code
    finally:
        s.quit()


def series(text, name):
    """{label text: value} of a family's lines, and the label texts seen
    more than once."""
    out, dup = {}, []
    for line in text.splitlines():
        m = re.match(r'%s(\{.*\})? (\S+)$' % re.escape(name), line)
        if m:
            if (m.group(1) or '') in out:
                dup.append(m.group(1))
            out[m.group(1) or ''] = float(m.group(2))
    return out, dup


def test_long_users(h):
    mport = free_port()
    pw = '/tmp/relaybox-series-%d.passwd' % os.getpid()
    with open(pw, 'w') as f:
        f.write('ops:%s\n' % h)
    os.chmod(pw, 0o600)
    try:
        with Sink() as sink, Instance(sink=sink, rules_text=rules(h),
                                      conf_overrides={
                'metrics_listen': '127.0.0.1:%d' % mport,
                'metrics_passwd': pw}) as inst:
            url = 'http://127.0.0.1:%d/metrics' % mport
            codes = [send(inst.port, LONG1, ['a@dest.example']),
                     send(inst.port, LONG2, ['a@dest.example',
                                             'b@dest.example',
                                             'c@dest.example'])]
            check('long users: both messages accepted', codes == [250, 250],
                  str(codes))
            text = ['']

            def both():
                text[0] = get(url, 'ops:secret')
                return len(series(text[0], 'relay_user_usage')[0]) >= 4
            wait_until(both, 20)
            got, dup = series(text[0], 'relay_user_usage')
            check('long users: no two relay_user_usage lines with the same '
                  'labels', not dup and len(got) == 4,
                  '\n'.join(x for x in text[0].splitlines()
                            if x.startswith('relay_user_usage')))
            check('long users: every series has its user and kind labels',
                  all(re.match(r'\{user="[^"]+",kind="(messages|recipients)"'
                               r'\}$', k) for k in got), str(list(got)))
            check('long users: each user its own counts (1 and 3 '
                  'recipients)', sorted(got.values()) == [1, 1, 1, 3],
                  str(got))
            p = subprocess.run(['promtool', 'check', 'metrics'],
                               input=text[0], capture_output=True,
                               text=True, timeout=60)
            check('long users: promtool check metrics passes',
                  p.returncode == 0, p.stdout + p.stderr)
    finally:
        os.unlink(pw)


# lib/metrics.c's slot layout, as a taken-over publisher would write it
def slot(value, family, labels):
    b = bytearray(128)
    struct.pack_into('<Q', b, 0, value & (2 ** 64 - 1))
    struct.pack_into('<I', b, 8, 2)                     # ready
    struct.pack_into('<H', b, 16, family)
    lb = labels.encode()
    b[20:20 + len(lb)] = lb
    return bytes(b)


def family_ids():
    """METRIC_<ID> -> index, from lib/metrics_def.h (the one table)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, '..', '..', 'lib', 'metrics_def.h')) as f:
        ids = re.findall(r'^\s*X\((\w+),', f.read(), re.M)
    return {n: i for i, n in enumerate(ids)}


def forge(path, fam):
    import mmap
    fd = os.open(path, os.O_RDWR)
    try:
        m = mmap.mmap(fd, 0)
        base = 4096 + 1020 * 128          # far from the slots in use
        m[base:base + 128] = slot(-2, fam['QUEUE_MESSAGES'], '')
        m[base + 128:base + 256] = slot(10 ** 6, fam['QUEUE_STATE'],
                                        'state="deferred"')
        m[base + 256:base + 384] = slot(7, fam['DEST_DELIVERIES'],
                                        'destination="x.example",'
                                        'result="sent"')
        m.flush()
        m.close()
    finally:
        os.close(fd)
    return 'ok'


def restart_metrics(inst):
    old = inst.pids(['relay-metrics'])
    for pid in old:
        os.kill(pid, signal.SIGTERM)
    return wait_until(lambda: inst.pids(['relay-metrics']) and
                      not set(inst.pids(['relay-metrics'])) & set(old), 30)


def dest_lines(text):
    return series(text, 'relay_destination_deliveries_total')[0]


def sent_total(text):
    return sum(v for k, v in dest_lines(text).items() if 'sent' in k)


def test_restart(inst, url):
    """a=3 b=2 c=1, then b overtakes a: with metrics_top = 1 relay-metrics
    showed b from then on from the count it had, and after its restart
    from its whole count (b +2, "other" +1 with no delivery)."""
    before = get(url)
    check('destinations: relay-metrics restarted',
          restart_metrics(inst), inst.log_tail())
    wait_until(lambda: 'relay_daemon_up' in get(url), 20)
    after = get(url)
    check('destinations: a restart of relay-metrics alone changes no '
          'destination counter', dest_lines(after) == dest_lines(before),
          'before %s\nafter  %s' % (dest_lines(before), dest_lines(after)))


def test_forged(inst, url):
    """relay-smtpd's uid writes other daemons' families into its area."""
    if not is_root():
        skip('forged area', 'needs root to act as relay-smtpd\'s uid')
        return
    acc = lambda t: series(t, 'relay_accepted_messages_total')[0]  # noqa
    q = lambda t: series(t, 'relay_queue_messages')[0]  # noqa: E731
    wait_until(lambda: q(get(url)).get('{state="delivering"}') == 0, 10)
    before = get(url)
    r = as_user(inst_user(inst, 'user_smtpd'), lambda: forge(
        inst.path('metrics/smtpd'), family_ids()))
    check('forged area: relay-smtpd\'s uid wrote its area', r == 'ok', r)
    forged = get(url)
    check('forged area: relay_accepted_messages_total unchanged',
          acc(forged) == acc(before) and acc(before),
          '%s -> %s' % (acc(before), acc(forged)))
    check('forged area: relay_queue_messages unchanged',
          q(forged) == q(before), '%s -> %s' % (q(before), q(forged)))
    check('forged area: no destination of relay-smtpd\'s making',
          'x.example' not in forged and
          dest_lines(forged) == dest_lines(before))
    check('forged area: relay-metrics says so in the log',
          inst.wait_log(r'metrics/smtpd.*not its own', 10) is not None,
          inst.log_tail())


def test_deliveries():
    mport = free_port()
    with Sink() as sink, Instance(sink=sink, conf_overrides={
            'metrics_listen': '127.0.0.1:%d' % mport,
            'metrics_top': 1}) as inst:
        url = 'http://127.0.0.1:%d/metrics' % mport
        for dom, n in (('a.example', 3), ('b.example', 2), ('c.example', 1)):
            for _ in range(n):
                send(inst.port, 'a@example.com', ['x@' + dom])
        wait_until(lambda: sent_total(get(url)) == 6, 30)
        get(url)                          # a scrape with a.example the top
        for _ in range(3):                # then b.example is
            send(inst.port, 'a@example.com', ['x@b.example'])
        wait_until(lambda: sent_total(get(url)) == 9, 30)
        check('destinations: 9 deliveries counted',
              sent_total(get(url)) == 9, get(url)[-2000:])
        test_restart(inst, url)
        test_forged(inst, url)


def inst_user(inst, key):
    with open(inst.path('relay.conf')) as f:
        for line in f:
            k, _, v = line.partition('=')
            if k.strip() == key:
                return v.strip()
    return {'user_smtpd': 'relaysmtpd'}[key]


def main():
    h = passwd_hash()
    test_long_users(h)
    test_deliveries()
    finish()


if __name__ == '__main__':
    main()
