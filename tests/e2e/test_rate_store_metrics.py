#!/usr/bin/python3
"""test_rate_store_metrics.py: relay-metrics over a shared rate store
(rate_store = redis://...) with more names than it shows.

Redis sits behind a proxy that holds each of its replies DELAY (a Redis
a round trip away, as a fleet has it).  The fleet's "names" index holds
4,200 customers counted an hour ago, then customer "example" sends a
message (its name the newest).  A scrape of /metrics:
- takes a few round trips, not one per name (4,096 x DELAY = 82 s);
- shows "example" with its 1 recipient: past the 4,096 names it keeps,
  the least recently active are left out, not the newest;
- writes nothing to Redis (its commandstats show no write command)."""
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from latencyproxy import LatencyProxy  # noqa: E402
from redisserver import TIMEOUT_MS, RedisServer  # noqa: E402

DELAY = 0.02
FAKES = 4200
SHOWN = 4096     # MON_USAGE_MAX, metrics/mon_data.c
SENDER = 'sender@example.com'
WRITES = ('hset', 'hdel', 'del', 'zadd', 'zrem', 'zremrangebyscore',
          'expire', 'hincrby', 'set')


def stats(inst):
    return inst.relayctl('stats', '--customer', 'example').stdout


def main():
    with Sink() as sink, RedisServer() as redis, \
            LatencyProxy(redis.port, DELAY) as px:
        prefix = 'names%d:' % os.getpid()
        mport = free_port()
        conf = {'rate_store': px.url(), 'rate_store_timeout': TIMEOUT_MS,
                'rate_store_prefix': prefix,
                'metrics_listen': '127.0.0.1:%d' % mport}
        inst = Instance(conf_overrides=conf, sink=sink)
        try:
            inst.prepare()
            redis.write_auth(inst.dir)
            inst.start()
            hour_ago = int(time.time()) - 3600
            members = []
            for i in range(FAKES):
                members += [hour_ago, 'c fake%d' % i]
            redis.cli('ZADD', prefix + 'names', *members, admin=True)
            r = swaks('--server', '127.0.0.1:%d' % inst.port, '--from',
                      SENDER, '--to', 'one@example.org')
            check('a message of customer example is counted',
                  r.returncode == 0 and
                  wait_until(lambda: 'rcpts_24h=1/' in stats(inst), 10),
                  (r.stdout[-300:], stats(inst)))
            check('the names index holds %d names' % (FAKES + 1),
                  redis.cli('ZCARD', prefix + 'names').strip() ==
                  str(FAKES + 1), redis.cli('ZCARD', prefix + 'names'))
            redis.cli('CONFIG', 'RESETSTAT', admin=True)
            t0 = time.time()
            try:
                body = urllib.request.urlopen(
                    'http://127.0.0.1:%d/metrics' % mport,
                    timeout=30).read().decode()
            except OSError as e:
                body = 'scrape failed: %r' % e
            took = time.time() - t0
            print('# one scrape of %d names behind %d ms: %.2f s' %
                  (FAKES + 1, DELAY * 1000, took), flush=True)
            check('a scrape takes a few round trips, not one per name '
                  '(%.2f s; one per name: %.0f s)' % (took, SHOWN * DELAY),
                  took < SHOWN * DELAY / 8, (took, body[:200]))
            check('the newest customer is shown (the oldest are left out)',
                  'relay_customer_recipients{customer="example",'
                  'window="24h"} 1' in body,
                  [ln for ln in body.splitlines() if 'example' in ln][:5])
            shown = len(re.findall(
                r'^relay_customer_recipients\{customer="fake\d+",'
                r'window="24h"\}', body, re.M))
            check('%d names shown in all' % SHOWN, shown == SHOWN - 1,
                  shown)
            cmds = redis.cli('INFO', 'commandstats', admin=True)
            wrote = [c for c in WRITES
                     if re.search(r'^cmdstat_%s:' % c, cmds, re.M)]
            check('the scrape wrote nothing to Redis', not wrote,
                  (wrote, cmds[:600]))
            no_sanitizer_report(inst)
        finally:
            inst.stop()
            inst.remove()
    finish()


if __name__ == '__main__':
    main()
