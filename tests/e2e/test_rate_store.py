#!/usr/bin/python3
"""test_rate_store.py: two relay boxes that share their limits through one
redis-server (rate_store = redis://..., AUTH as an ACL user from
DIR/rate_store.auth), as a fleet behind a load balancer would.

- customer "one" (peak 9) sends 6 recipients through each box at once:
  exactly 9 are accepted in all, the others get 450 4.2.1; with
  rate_store = local the same run gives 12 (each box counts alone).
- user mailer@two.example (user_rcpts = 9) sends 6 new recipients through
  each box at once: 9 accepted, the others 550 5.4.5.
- box B's status page (relay-metrics) shows the fleet's usage too.
- 20 sessions at once (10 per box, 3 recipients each) against a peak of
  18: exactly 18 accepted (many RCPT scripts in flight per box).
- relayctl suspend on box A takes effect on box B (shared store).
- Redis killed: box A (rate_store_fail = defer) answers 451 4.3.0 and
  relays nothing; box B (rate_store_fail = local) relays on its own
  counts and says so in the log.  Redis back (empty, on the same port):
  B, idle, adds what it admitted meanwhile to the shared counts and
  logs the window; A, never restarted, counts in Redis again once its
  one-second pause after a failed connect is over, and sees B's counts
  (shared again).
- Redis drops box A's idle connection (CLIENT KILL): the next RCPT is
  counted on a new one (250), not refused with 451 4.3.0.
- Redis stopped (SIGSTOP): a decision on a third box waits its
  rate_store_timeout (300 ms) and gets 451 4.3.0; going on (SIGCONT):
  decisions work again.
The two boxes wait TIMEOUT_MS for Redis (redisserver.py): what they
show must not hang on how busy the machine is.
"""
import os
import re
import signal
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from redisserver import TIMEOUT_MS, RedisServer  # noqa: E402

HASH = '$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
RULES = """\
customer one licenses=1 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32

customer two licenses=100 paid=yes
domain two.example customer=two
user mailer@two.example hash=%s customer=two user_rcpts=9
rule two lo senders=domain auth=ip
ip two lo 127.0.0.2/32

customer three licenses=1 paid=yes
domain three.example customer=three
rule three lo senders=domain auth=ip
ip three lo 127.0.0.3/32

customer five licenses=2 paid=yes
domain five.example customer=five
rule five lo senders=domain auth=ip
ip five lo 127.0.0.5/32
""" % HASH

PEAK = '450 4.2.1 Peak SMTP relay limit exceeded for customer.'
USER = '550 5.4.5 Daily SMTP relay limit exceeded for user.'
DEFER = '451 4.3.0'
SANITIZER = r'AddressSanitizer|LeakSanitizer|runtime error:'


def text(r):
    return '%d %s' % (r[0], r[1][-1])


def txn(inst, ip, helo, sender, addrs, barrier=None):
    """One transaction: the RCPT replies (or MAIL's, alone, when it was
    refused) and the DATA code (None when no recipient was accepted).  With a barrier, the RCPTs start when every
    party is at it (both boxes at once)."""
    c = Raw(inst.port, source_ip=ip)
    try:
        c.reply()
        c.cmd(b'EHLO ' + helo.encode() + b'\r\n')
        mail = c.cmd(b'MAIL FROM:<' + sender.encode() + b'>\r\n')
        if barrier:
            barrier.wait(30)
        if mail[0] != 250:  # a refusal at MAIL (451: Redis out of reach)
            c.cmd(b'QUIT\r\n')
            return [text(mail)], None
        got = [text(c.cmd(b'RCPT TO:<' + a.encode() + b'>\r\n'))
               for a in addrs]
        code = None
        if any(g.startswith('250') for g in got):
            r = c.cmd(b'DATA\r\n')
            code = r[0] if r[0] != 354 else \
                c.cmd(b'Subject: fleet\r\n\r\nhello\r\n.\r\n')[0]
        c.cmd(b'QUIT\r\n')
        return got, code
    finally:
        c.close()


def both_at_once(boxes, ip, helo, sender, prefix):
    """6 recipients through each box at once: [(got, code), ...]."""
    barrier = threading.Barrier(len(boxes))
    results = [None] * len(boxes)

    def run(i):
        try:
            results[i] = txn(boxes[i], ip, helo, sender,
                             ['%s%d.%d@example.org' % (prefix, i, k)
                              for k in range(6)], barrier)
        except Exception as e:  # noqa: BLE001
            results[i] = ([repr(e)], None)

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(boxes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def accepted(results):
    return sum(sum(g.startswith('250') for g in got)
               for got, code in results if code == 250)


def refusals(results):
    return [g for got, _ in results for g in got if not g.startswith('250')]


def shared_limit(a, b, what, ip, sender, refusal):
    """6 recipients through each box at once: 9 in all, 3 refused."""
    res = both_at_once([a, b], ip, 'client.%s' % sender.split('@')[1],
                       sender, what)
    check('%s: 9 of 12 recipients accepted over two boxes' % what,
          accepted(res) == 9, res)
    check('%s: the other 3 get %s' % (what, refusal[:9]),
          refusals(res) == [refusal] * 3, res)


def test_shared_peak(a, b):
    shared_limit(a, b, 'peak', '127.0.0.1', 'app@one.example', PEAK)
    want = 'customer=one rcpts_24h=9/130 rcpts_10m=9/9'
    # a commit may land a moment after the client's 250
    check('peak: relayctl stats on box A shows the fleet (9/9)', wait_until(
        lambda: want in a.relayctl('stats', '--customer', 'one').stdout, 5),
        a.relayctl('stats', '--customer', 'one').stdout)
    check('peak: relayctl stats on box B lists the fleet\'s customer',
          want in b.relayctl('stats').stdout, b.relayctl('stats').stdout)
    page = urllib.request.urlopen('http://127.0.0.1:%d/' % b.metrics_port,
                                  timeout=30).read().decode()
    check('peak: box B\'s status page shows the fleet\'s 9/9 (one box '
          'took 6 at most)', re.search(
              r'<td>one</td><td>9/130</td><td[^>]*>9/9</td>', page),
          page[-1500:])


def test_shared_unique(a, b):
    shared_limit(a, b, 'unique', '127.0.0.2', 'mailer@two.example', USER)
    want = 'user=mailer@two.example msgs_24h=2/10000 rcpts_24h=9/9'
    check('unique: stats of the user on box B (2 messages, 9/9)', wait_until(
        lambda: want in b.relayctl('stats', '--user',
                                   'mailer@two.example').stdout, 5),
        b.relayctl('stats', '--user', 'mailer@two.example').stdout)


def test_many_sessions(a, b):
    """20 sessions at once, 10 through each box, 3 recipients each,
    against a peak of 18: many RCPT scripts in flight on each box's one
    connection; exactly 18 accepted, every refusal 450 4.2.1."""
    results = []

    def one(i):
        box = (a, b)[i % 2]
        try:
            results.append(txn(box, '127.0.0.5', 'client.five.example',
                               'app@five.example',
                               ['m%d.%d@example.org' % (i, k)
                                for k in range(3)]))
        except Exception as e:  # noqa: BLE001
            results.append(([repr(e)], None))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check('many sessions: 20 finished', len(results) == 20, results)
    check('many sessions: exactly 18 of 60 accepted over both boxes',
          accepted(results) == 18, results)
    check('many sessions: every refusal is 450 4.2.1',
          set(refusals(results)) == {PEAK}, refusals(results))


def mail_reply(inst, ip, helo, sender):
    c = Raw(inst.port, source_ip=ip)
    try:
        c.reply()
        c.cmd(b'EHLO ' + helo.encode() + b'\r\n')
        return text(c.cmd(b'MAIL FROM:<' + sender.encode() + b'>\r\n'))
    finally:
        c.close()


def test_shared_suspend(a, b):
    def on_b():
        return mail_reply(b, '127.0.0.2', 'client.two.example',
                          'mailer@two.example')

    def on_a():
        return mail_reply(a, '127.0.0.2', 'client.two.example',
                          'mailer@two.example')
    check('suspend: customer two sends through box B before',
          on_b().startswith('250'), on_b())
    r = a.relayctl('suspend', 'customer', 'two')
    check('suspend: relayctl suspend on box A says every box',
          r.returncode == 0 and 'on every box' in r.stdout, r)
    check('suspend: box B refuses customer two within 3 s',
          wait_until(lambda: on_b().startswith('550 5.7.1'), 3), on_b())
    r = a.relayctl('unsuspend', 'customer', 'two')
    check('suspend: unsuspend on box A lifts it on box B',
          r.returncode == 0 and
          wait_until(lambda: on_b().startswith('250'), 3), on_b())
    # box A's own file says so at once, its copy of the shared list
    # within a second (the last one read stays while Redis is away)
    check('suspend: unsuspend on box A lifts it on box A',
          wait_until(lambda: on_a().startswith('250'), 3), on_a())


def test_idle_close(redis, a):
    """Redis closes box A's idle connection (CLIENT KILL, as its idle
    timeout would): the next RCPT goes on a new one, 250, not 451."""
    c = Raw(a.port, source_ip='127.0.0.2')
    try:
        c.reply()
        c.cmd(b'EHLO client.two.example\r\n')
        c.cmd(b'MAIL FROM:<app@two.example>\r\n')
        first = text(c.cmd(b'RCPT TO:<idle1@example.org>\r\n'))
        killed = redis.cli('CLIENT', 'KILL', 'TYPE', 'normal', admin=True)
        second = text(c.cmd(b'RCPT TO:<idle2@example.org>\r\n'))
        c.cmd(b'QUIT\r\n')
    finally:
        c.close()
    check('idle close: Redis dropped the relays\' connections',
          first.startswith('250') and int(killed or 0) >= 1,
          (first, killed))
    check('idle close: the next RCPT is counted on a new one, 250',
          second.startswith('250'), (second, a.log_tail(5)))


def test_local_store(sink):
    boxes = [Instance(rules_text=RULES, sink=sink) for _ in range(2)]
    try:
        for box in boxes:
            box.start()
        res = both_at_once(boxes, '127.0.0.1', 'client.one.example',
                           'app@one.example', 'loc')
        check('local store: each box counts alone, 12 accepted (6 + 6)',
              accepted(res) == 12, res)
    finally:
        for box in boxes:
            box.stop()
            box.remove()


def three(inst, n, prefix):
    return txn(inst, '127.0.0.3', 'client.three.example',
               'app@three.example',
               ['%s%d@example.org' % (prefix, k) for k in range(n)])


def test_outage(redis, a, b, sink):
    redis.kill()
    got, code = three(a, 2, 'dfr')
    check('outage, defer: RCPT gets 451 4.3.0',
          all(g.startswith(DEFER) for g in got), got)
    check('outage, defer: no message taken', code is None, (got, code))
    check('outage, defer: the log says why',
          a.wait_log(r'rate_store: Redis does not answer .*451 4\.3\.0', 10))
    got, code = three(b, 5, 'lcl')
    check('outage, local: 5 recipients accepted on local counts',
          all(g.startswith('250') for g in got) and code == 250, (got, code))
    check('outage, local: the log says it counts alone',
          b.wait_log(r'rate_store: Redis does not answer .*counting on '
                     r'this box alone', 10))
    sink.wait_rcpts('lcl', 5, 30)
    check('outage, local: the mail flows', sink.wait_rcpts('lcl', 5, 0) == 5)
    check('outage, defer: nothing relayed uncounted',
          sink.wait_rcpts('dfr', 1, 0) == 0)
    redis.start()
    check('back: box B, idle, adds what it admitted alone to Redis and '
          'logs the window',
          b.wait_log(r'rate_store: Redis answers again after \d+ s; '
                     r'meanwhile 5 recipients were admitted on this box\'s '
                     r'own counts', 10), b.log_tail(10))
    # box A's last failed connect may be less than a second old: it waits
    # that second before it connects again (451 4.3.0, nothing counted)
    probe = []

    def counted():
        probe[:] = [three(a, 1, 'probe')]
        return probe[0][1] == 250
    check('back: box A (never restarted) counts in Redis again',
          wait_until(counted, 10, 0.3), probe)
    got, code = three(a, 5, 'after')
    check('back: box A sees B\'s counts: 3 of 5 more accepted (5 + 1 + 3)',
          len(got) == 5 and all(g.startswith('250') for g in got[:3]) and
          got[3:] == [PEAK] * 2, got)
    got, code = three(b, 1, 'back')
    check('back: box B counts in Redis again (450 4.2.1 at 9)',
          got == [PEAK], (got, code))


def test_slow(redis, conf, sink):
    """Redis stopped (SIGSTOP): a decision waits rate_store_timeout, no
    more, then 451; Redis going on (SIGCONT): decisions work again.  A
    box of its own, with the short timeout this is about."""
    def one():
        """The RCPT's reply, and how long MAIL and RCPT took (their
        decisions; not the session's start, slow on a loaded machine)."""
        s = Raw(c.port, source_ip='127.0.0.2')
        try:
            s.reply()
            s.cmd(b'EHLO client.two.example\r\n')
            t0 = time.time()
            got = text(s.cmd(b'MAIL FROM:<app@two.example>\r\n'))
            if got.startswith('250'):
                got = text(s.cmd(b'RCPT TO:<slow@example.org>\r\n'))
            took = time.time() - t0
            s.cmd(b'QUIT\r\n')
            return got, took
        finally:
            s.close()
    c = Instance(conf_overrides=dict(conf, rate_store_timeout=300),
                 rules_text=RULES, sink=sink)
    try:
        c.prepare()
        redis.write_auth(c.dir)
        c.start()
        check('slow Redis: before, box C counts through Redis',
              wait_until(lambda: one()[0].startswith('250'), 10))
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            got, took = one()
            check('slow Redis: 451 4.3.0', got.startswith(DEFER), got)
            check('slow Redis: MAIL and RCPT waited about '
                  'rate_store_timeout (300 ms), not more', took < 2, took)
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        check('slow Redis going on: recipients accepted again',
              wait_until(lambda: one()[0].startswith('250'), 5))
    finally:
        c.stop()
        c.remove()


def main():
    with Sink() as sink, RedisServer() as redis:
        conf = {'rate_store': redis.url(), 'rate_store_timeout': TIMEOUT_MS,
                'rate_store_prefix': 'fleet%d:' % os.getpid()}
        a = Instance(conf_overrides=dict(conf), rules_text=RULES, sink=sink)
        mport = free_port()
        b = Instance(conf_overrides=dict(conf, rate_store_fail='local',
                                         metrics_listen='127.0.0.1:%d' %
                                         mport),
                     rules_text=RULES, sink=sink)
        b.metrics_port = mport
        try:
            for box in (a, b):
                box.prepare()
                redis.write_auth(box.dir)
                box.start()
            test_shared_peak(a, b)
            test_shared_unique(a, b)
            test_shared_suspend(a, b)
            test_many_sessions(a, b)
            test_idle_close(redis, a)
            test_slow(redis, conf, sink)
            test_outage(redis, a, b, sink)
            for name, box in (('A', a), ('B', b)):
                said = [line for line in box.log().splitlines()
                        if re.search(SANITIZER, line)]
                check('box %s: no sanitizer report in its log' % name,
                      not said, said[:5])
        finally:
            for box in (a, b):
                box.stop()
                box.remove()
        test_local_store(sink)
    finish()


if __name__ == '__main__':
    main()
