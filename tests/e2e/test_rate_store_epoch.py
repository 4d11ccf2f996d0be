#!/usr/bin/python3
"""test_rate_store_epoch.py: a Redis that loses its data (here: killed
and started again without persistence, faster than one failed exchange)
resets every count of the fleet; relay-policy notices it (the key
P epoch it set is gone or another) and says so once in the log.

- a message is counted in Redis; no warning at the first contact, nor
  a few seconds later;
- Redis killed (SIGKILL) and started again at once, empty: within a few
  seconds the log says Redis lost its data, once (not once a second)."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from redisserver import TIMEOUT_MS, RedisServer  # noqa: E402

SENDER = 'sender@example.com'
LOST = r'rate_store: Redis lost its data'


def lost(inst):
    return len(re.findall(LOST, inst.log()))


def main():
    with Sink() as sink, RedisServer() as redis:
        prefix = 'epoch%d:' % os.getpid()
        conf = {'rate_store': redis.url(), 'rate_store_timeout': TIMEOUT_MS,
                'rate_store_prefix': prefix}
        inst = Instance(conf_overrides=conf, sink=sink)
        try:
            inst.prepare()
            redis.write_auth(inst.dir)
            inst.start()
            r = swaks('--server', '127.0.0.1:%d' % inst.port, '--from',
                      SENDER, '--to', 'one@example.org')
            check('a message is counted in Redis', r.returncode == 0 and
                  wait_until(lambda: 'rcpts_24h=1/' in inst.relayctl(
                      'stats', '--customer', 'example').stdout, 10),
                  r.stdout[-300:])
            check('the epoch key is set at the first contact',
                  wait_until(lambda: len(redis.cli(
                      'GET', prefix + 'epoch').strip()) == 32, 5),
                  redis.cli('GET', prefix + 'epoch'))
            time.sleep(2)
            check('no warning while Redis keeps its data', lost(inst) == 0,
                  inst.log_tail(5))
            redis.kill()
            redis.start()
            check('Redis restarted empty: the log says it lost its data',
                  inst.wait_log(LOST, 15), inst.log_tail(10))
            time.sleep(3)
            check('said once', lost(inst) == 1, lost(inst))
            no_sanitizer_report(inst)
        finally:
            inst.stop()
            inst.remove()
    finish()


if __name__ == '__main__':
    main()
