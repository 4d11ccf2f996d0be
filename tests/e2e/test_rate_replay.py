#!/usr/bin/python3
"""test_rate_replay.py: after a Redis outage (rate_store_fail = local),
relay-policy adds what it journalled to the shared counts in the
background: its decisions go on meanwhile, and the count is exact.

Redis sits behind a proxy that holds each of its replies DELAY (a Redis
a WAN round trip away).  The proxy drops every connection (Redis out of
reach); N messages go through on local counts (journalled).  Two probe
sessions then ask RCPT after RCPT (each given back with RSET) while the
proxy lets Redis through again: no RCPT waits anywhere near the N x DELAY
that replaying the journal one message at a time costs, the log says the
N recipients were added, and the shared count is exactly 1 + N (the
message before the outage and the N), none doubled and none lost."""
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from latencyproxy import LatencyProxy  # noqa: E402
from redisserver import RedisServer  # noqa: E402

N = 400          # messages journalled during the outage
DELAY = 0.03     # seconds each Redis reply is held
STALL = N * DELAY  # what a replay one message at a time costs, at least
SENDER = 'sender@example.com'


def count(inst):
    m = re.search(r'rcpts_24h=(\d+)/',
                  inst.relayctl('stats', '--customer', 'example').stdout)
    return int(m.group(1)) if m else None


def probe(inst, until, took, errors):
    """RCPT after RCPT on one session (RSET gives each back) until the
    time `until`; how long each took, with when it started."""
    c = Raw(inst.port)
    try:
        c.reply()
        c.cmd(b'EHLO probe.example.com\r\n')
        k = 0
        while time.time() < until and k < 100000:
            k += 1
            c.cmd(b'MAIL FROM:<%s>\r\n' % SENDER.encode())
            t0 = time.time()
            r = c.cmd(b'RCPT TO:<probe%d@example.org>\r\n' % k)
            took.append((t0, time.time() - t0, r[0]))
            c.cmd(b'RSET\r\n')
        c.cmd(b'QUIT\r\n')
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))
    finally:
        c.close()


def main():
    with Sink() as sink, RedisServer() as redis, \
            LatencyProxy(redis.port, DELAY) as px:
        conf = {'rate_store': px.url(), 'rate_store_timeout': 2000,
                'rate_store_fail': 'local', 'conn_per_ip': 200,
                'rate_store_prefix': 'replay%d:' % os.getpid()}
        inst = Instance(conf_overrides=conf, sink=sink)
        try:
            inst.prepare()
            redis.write_auth(inst.dir)
            inst.start()
            r = swaks('--server', '127.0.0.1:%d' % inst.port, '--from',
                      SENDER, '--to', 'before@example.org')
            check('before: a message counted in Redis',
                  r.returncode == 0 and
                  wait_until(lambda: count(inst) == 1, 10),
                  (r.stdout[-300:], count(inst)))
            px.down()
            r = subprocess.run(
                ['/usr/sbin/smtp-source', '-s', '4', '-m', str(N), '-c',
                 '-f', SENDER, '-t', 'out@example.org',
                 '127.0.0.1:%d' % inst.port],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=600)
            check('outage: %d messages accepted on local counts' % N,
                  r.returncode == 0 and
                  inst.wait_log(r'rate_store: Redis does not answer .*'
                                r'counting on this box alone', 10),
                  (r.stdout[-300:], inst.log_tail(5)))
            took, errors = [], []
            until = time.time() + 3 + STALL
            probes = [threading.Thread(target=probe,
                                       args=(inst, until, took, errors))
                      for _ in range(2)]
            for t in probes:
                t.start()
            time.sleep(1)
            t_up = time.time()
            px.up()
            back = inst.wait_log(
                r'rate_store: Redis answers again after \d+ s; meanwhile '
                r'%d recipients were admitted on this box' % N, 60)
            t_back = time.time()
            for t in probes:
                t.join(60 + STALL)
            after = [(t0, d, code) for t0, d, code in took if t0 + d >= t_up]
            worst = max([d for _, d, _ in after] or [0])
            print('# %d probe RCPTs after Redis came back, the slowest '
                  '%.2f s; the journal was replayed %.2f s after' %
                  (len(after), worst, t_back - t_up), flush=True)
            check('back: the log says the %d journalled recipients were '
                  'added' % N, back, inst.log_tail(10))
            check('back: the probes ran throughout', not errors and
                  len(after) >= 10, (errors, len(after)))
            check('back: no RCPT waited for the replay (slowest %.2f s, '
                  'one at a time would take %.0f s)' % (worst, STALL),
                  worst < STALL / 4, worst)
            check('back: every probe RCPT 250',
                  all(code == 250 for _, _, code in after),
                  [a for a in after if a[2] != 250][:5])
            want = 1 + N
            check('back: the shared count is exactly %d' % want,
                  wait_until(lambda: count(inst) == want, 20), count(inst))
            time.sleep(2)
            check('back: and stays so (nothing counted twice)',
                  count(inst) == want, count(inst))
            no_sanitizer_report(inst)
        finally:
            inst.stop()
            inst.remove()
    finish()


if __name__ == '__main__':
    main()
