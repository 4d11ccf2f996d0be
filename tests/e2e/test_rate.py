#!/usr/bin/python3
"""test_rate.py: rate limits on the wire (doc/BEHAVIOUR.md §3 with the replies of
§2), relayctl stats, and counters that survive restarts.

- customer "one", 1 paid license: peak 9 per 10 minutes.  An aborted
  transaction costs nothing; RCPT 1-9 get 250, the 10th gets
  450 4.2.1; the message with 9 is accepted; the next RCPT gets 450 again;
  the same after a restart of relay-policy (kill -9) and of the whole relay.
- customer "two": user mailer@two.example with user_rcpts=3: the 4th unique
  recipient gets 550 5.4.5, repeats do not count for the user but do for
  the customer.
- customer "three", unpaid: the 51st recipient in 10 minutes gets 450 4.2.1.
- customer "four", identified by HELO only (foreign sender, senders=any):
  its limit applies too.
- customer "six": a recipient repeated in one transaction (the domain in
  another case) is answered 250, counted once and delivered once; a local
  part in another case or other DSN parameters make another recipient.
"""
import calendar
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

HASH = '$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
RULES = """\
customer one licenses=1 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32

customer two licenses=100 paid=yes
domain two.example customer=two
user mailer@two.example hash=%s customer=two user_rcpts=3
rule two lo senders=domain auth=ip
ip two lo 127.0.0.2/32

customer three licenses=5 paid=no
domain three.example customer=three
rule three lo senders=domain auth=ip
ip three lo 127.0.0.3/32

customer five licenses=2 paid=yes
domain five.example customer=five
rule five lo senders=domain auth=ip
ip five lo 127.0.0.5/32

customer four licenses=1 paid=yes
domain four.example customer=four
rule four lo senders=any auth=ip
ip four lo 127.0.0.4/32

customer six licenses=1 paid=yes
domain six.example customer=six
rule six lo senders=domain auth=ip
ip six lo 127.0.0.6/32
""" % HASH

PEAK = '450 4.2.1 Peak SMTP relay limit exceeded for customer.'
USER = '550 5.4.5 Daily SMTP relay limit exceeded for user.'


def text(r):
    return '%d %s' % (r[0], r[1][-1])


def session(inst, ip, helo):
    c = Raw(inst.port, source_ip=ip)
    c.reply()
    c.cmd(b'EHLO ' + helo.encode() + b'\r\n')
    return c


def rcpts(c, addrs):
    """RCPT TO each address; the list of (code, last text line)."""
    return [text(c.cmd(b'RCPT TO:<' + a.encode() + b'>\r\n')) for a in addrs]


def data(c):
    r = c.cmd(b'DATA\r\n')
    if r[0] != 354:
        return r[0]
    return c.cmd(b'Subject: rate\r\n\r\nhello\r\n.\r\n')[0]


def stats(inst, *args):
    r = inst.relayctl('stats', *args)
    return r.stdout + r.stderr


def restart(inst):
    """Stop relay-master and start it again on the same instance."""
    inst.stop()
    try:
        os.unlink(inst.path('run/ready'))
    except OSError:
        pass
    inst._err = open(inst.path('master.stderr'), 'ab')
    inst.proc = subprocess.Popen(
        [os.path.join(BIN, 'relay-master'), '-d', inst.dir],
        stdin=subprocess.DEVNULL, stdout=inst._err, stderr=inst._err,
        start_new_session=True)
    inst._wait_ready()


def first_rcpt_after(inst):
    """The reply to the first RCPT of a new session of customer one."""
    return one_txn(inst, '127.0.0.1', 'client.one.example',
                   'app@one.example', ['late@example.org'])[0][0]


def test_peak(inst, sink):
    c = session(inst, '127.0.0.1', 'client.one.example')
    c.cmd(b'MAIL FROM:<app@one.example>\r\n')
    got = rcpts(c, ['gone%d@example.org' % i for i in range(5)])
    c.cmd(b'RSET\r\n')
    check('peak: aborted transaction took 5 recipients', all(g.startswith('250') for g in got), got)
    c.cmd(b'MAIL FROM:<app@one.example>\r\n')
    got = rcpts(c, ['r%d@example.org' % i for i in range(10)])
    check('peak: recipients 1-9 accepted (the aborted ones cost nothing)',
          all(g.startswith('250') for g in got[:9]), got)
    check('peak: the 10th gets 450 4.2.1 on the wire', got[9] == PEAK, got[9])
    check('peak: the message with 9 recipients is accepted', data(c) == 250)
    c.cmd(b'QUIT\r\n')
    c.close()
    check('peak: the 9 recipients arrive', wait_rcpts(sink, 'r', 9, 30))
    check('peak: next RCPT in a new session gets 450 4.2.1', first_rcpt_after(inst) == PEAK)
    s = stats(inst, '--customer', 'one')
    check('stats: customer one 9/130 daily, 9/9 peak',
          'customer=one rcpts_24h=9/130 rcpts_10m=9/9' in s, s)
    m = re.search(r'peak_free_at=(\S+)', s)
    left = -1
    if m and m.group(1) != '-':
        t = calendar.timegm(time.strptime(m.group(1), '%Y-%m-%dT%H:%M:%SZ'))
        left = t - time.time()
    check('stats: peak window frees room 10 minutes after the first count',
          540 < left <= 601, s)


def test_restart(inst):
    pid = inst.status().get('relay-policy', (0, 0))[0]
    check('restart: relay-policy is running', pid > 0, inst.status())
    if pid > 0:
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 20
        while time.time() < deadline:
            p = inst.status().get('relay-policy', (0, 0))[0]
            if p and p != pid:
                break
            time.sleep(0.1)
        time.sleep(0.3)
        check('restart: relay-policy came back', inst.status().get('relay-policy', (0, 0))[0] not in (0, pid))
    check('restart: after kill -9 of relay-policy still 450 4.2.1', first_rcpt_after(inst) == PEAK)
    restart(inst)
    check('restart: after a restart of the whole relay still 450 4.2.1', first_rcpt_after(inst) == PEAK)
    s = stats(inst, '--customer', 'one')
    check('restart: stats intact', 'rcpts_24h=9/130 rcpts_10m=9/9' in s, s)


def test_user(inst):
    c = session(inst, '127.0.0.2', 'client.two.example')
    c.cmd(b'MAIL FROM:<mailer@two.example>\r\n')
    got = rcpts(c, ['a@example.org', 'b@example.org', 'c@example.org',
                    'd@example.org', 'A@example.org'])
    check('user: 3 unique accepted', all(g.startswith('250') for g in got[:3]), got)
    check('user: the 4th unique gets 550 5.4.5', got[3] == USER, got[3])
    check('user: a repeated recipient is accepted', got[4].startswith('250'), got[4])
    check('user: message accepted', data(c) == 250)
    c.cmd(b'MAIL FROM:<mailer@two.example>\r\n')
    got = rcpts(c, ['b@example.org', 'e@example.org'])
    check('user: next message to a known recipient accepted', got[0].startswith('250'), got)
    check('user: next message to a new one gets 550 5.4.5', got[1] == USER, got)
    check('user: second message accepted', data(c) == 250)
    c.cmd(b'QUIT\r\n')
    c.close()
    s = stats(inst, '--user', 'mailer@two.example')
    check('stats: user 2 messages, 3/3 unique',
          'user=mailer@two.example msgs_24h=2/10000 rcpts_24h=3/3' in s, s)
    s = stats(inst, '--customer', 'two')
    check('stats: customer two counts every recipient (5)',
          'customer=two rcpts_24h=5/13000 rcpts_10m=5/900' in s, s)


def one_txn(inst, ip, helo, sender, addrs):
    """A session with one transaction: the RCPT replies and the DATA code
    (None when no recipient was accepted)."""
    c = session(inst, ip, helo)
    c.cmd(b'MAIL FROM:<' + sender.encode() + b'>\r\n')
    got = rcpts(c, addrs)
    code = data(c) if any(g.startswith('250') for g in got) else None
    c.cmd(b'QUIT\r\n')
    c.close()
    return got, code


def test_unpaid(inst):
    got, code = one_txn(inst, '127.0.0.3', 'client.three.example',
                        'app@three.example',
                        ['u%d@example.org' % i for i in range(51)])
    check('unpaid: 50 accepted', all(g.startswith('250') for g in got[:50]), got[:3])
    check('unpaid: the 51st gets 450 4.2.1', got[50] == PEAK, got[50])
    check('unpaid: message accepted', code == 250)
    s = stats(inst, '--customer', 'three')
    check('stats: unpaid 50/100 daily, 50/50 peak', 'rcpts_24h=50/100 rcpts_10m=50/50' in s, s)


def test_helo(inst):
    got, code = one_txn(inst, '127.0.0.4', 'four.example',
                        'someone@foreign.example',
                        ['h%d@example.org' % i for i in range(10)])
    check('helo: 9 accepted for the customer named in HELO',
          all(g.startswith('250') for g in got[:9]), got)
    check('helo: the 10th gets 450 4.2.1', got[9] == PEAK, got[9])
    check('helo: message accepted', code == 250)


def test_parallel(inst, sink):
    """20 sessions at once against a peak of 18 (2 licenses): every one
    pipelines 3 RCPTs, then DATA; what is accepted never exceeds 18."""
    results = []

    def client(i):
        try:
            got, code = one_txn(inst, '127.0.0.5', 'client.five.example',
                                'app@five.example',
                                ['p%d.%d@example.org' % (i, k) for k in range(3)])
            results.append((sum(g.startswith('250') for g in got), code, got))
        except Exception as e:  # noqa: BLE001
            results.append((0, None, [repr(e)]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    accepted = sum(n for n, code, _ in results if code == 250)
    refused = [g for _, _, got in results for g in got if not g.startswith('250')]
    check('parallel: 20 sessions finished', len(results) == 20, results)
    check('parallel: exactly 18 recipients accepted and queued', accepted == 18,
          results)
    check('parallel: every refusal is 450 4.2.1', refused and
          all(g == PEAK for g in refused), refused)
    check('parallel: 18 recipients arrive, no more', wait_rcpts(sink, 'p', 18, 60))
    s = stats(inst, '--customer', 'five')
    check('stats: customer five 18/18 peak', 'rcpts_10m=18/18' in s, s)


def test_repeat(inst, sink):
    c = session(inst, '127.0.0.6', 'client.six.example')
    c.cmd(b'MAIL FROM:<app@six.example>\r\n')
    got = rcpts(c, ['rep@example.org', 'rep@example.org', 'rep@EXAMPLE.ORG',
                    'Rep@example.org'])
    got.append(text(c.cmd(b'RCPT TO:<rep@example.org> NOTIFY=NEVER\r\n')))
    check('repeat: every RCPT answered 250',
          all(g.startswith('250') for g in got), got)
    check('repeat: the repeats say so', all('repeated' in g for g in got[1:3])
          and not any('repeated' in g for g in got[3:]), got)
    check('repeat: message accepted', data(c) == 250)
    c.cmd(b'QUIT\r\n')
    c.close()
    s = stats(inst, '--customer', 'six')
    check('repeat: customer six counted 3, not 5',
          'customer=six rcpts_24h=3/130 rcpts_10m=3/9' in s, s)
    wait_rcpts(sink, 'rep@', 3, 30)
    time.sleep(1)
    seen = sorted(r for m in list(sink.messages) for r in m.rcpts
                  if r.lower().startswith('rep@'))
    check('repeat: delivered once per distinct recipient',
          seen == ['Rep@example.org', 'rep@example.org', 'rep@example.org'],
          seen)


def wait_rcpts(sink, prefix, n, timeout):
    """Wait until n recipients starting with prefix arrived; then wait a
    second more: True when exactly n arrived."""
    sink.wait_rcpts(prefix, n, timeout)
    time.sleep(1)  # anything more would arrive now
    return sink.wait_rcpts(prefix, n, 0) == n


def main():
    with Sink() as sink, Instance(rules_text=RULES, sink=sink) as inst:
        test_peak(inst, sink)
        test_user(inst)
        test_unpaid(inst)
        test_helo(inst)
        test_repeat(inst, sink)
        test_parallel(inst, sink)
        test_restart(inst)
        s = stats(inst)
        print(s, end='')
        check('stats: all customers and users listed',
              all(('customer=%s ' % n) in s for n in ('one', 'two', 'three', 'four')) and
              'user=mailer@two.example ' in s, s)
    finish()


main()
