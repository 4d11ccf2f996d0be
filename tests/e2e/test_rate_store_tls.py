#!/usr/bin/python3
"""test_rate_store_tls.py: rate_store = rediss://... talks TLS to Redis and
verifies its certificate.  A redis-server with only a TLS port (a test
CA's certificate for 127.0.0.1) and a relay with rate_store_ca naming
that CA: customer "one" (peak 9) gets 9 recipients, the 10th 450 4.2.1,
and the counts are in Redis.  A second relay that does not trust the CA
(the system store) refuses the server: 451 4.3.0 and a log line that
names the verification.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from certs import TestCerts  # noqa: E402
from redisserver import TIMEOUT_MS, RedisServer  # noqa: E402
from test_rate_store import PEAK, RULES, txn  # noqa: E402

def relay(redis, ca, sink):
    conf = {'rate_store': 'rediss://127.0.0.1:%d/3' % redis.port,
            'rate_store_prefix': 'tls%d:' % os.getpid(),
            'rate_store_timeout': TIMEOUT_MS}
    if ca:
        conf['rate_store_ca'] = ca
    inst = Instance(conf_overrides=conf, rules_text=RULES, sink=sink)
    inst.prepare()
    redis.write_auth(inst.dir)
    return inst


def main():
    with TestCerts(names=['redis.test'], ips=['127.0.0.1']) as c, \
            Sink() as sink:
        redis = RedisServer()  # its port becomes the TLS port
        redis.extra = ('port 0\ntls-port %d\ntls-cert-file %s\n'
                       'tls-key-file %s\ntls-ca-cert-file %s\n'
                       'tls-auth-clients no\n'
                       % (redis.port, c.cert, c.key, c.ca))
        redis.start()
        good = bad = None
        try:
            good = relay(redis, c.ca, sink)
            good.start()
            got, code = txn(good, '127.0.0.1', 'client.one.example',
                            'app@one.example',
                            ['t%d@example.org' % k for k in range(10)])
            check('rediss: 9 recipients accepted through Redis over TLS',
                  [g[:3] for g in got[:9]] == ['250'] * 9 and code == 250,
                  (got, code, good.log_tail(5)))
            check('rediss: the 10th gets 450 4.2.1', got[9] == PEAK, got)
            def stats():  # the commit may land a moment after the 250
                return good.relayctl('stats', '--customer', 'one').stdout
            check('rediss: relayctl stats reads it over TLS too',
                  wait_until(lambda: 'rcpts_10m=9/9' in stats(), 5), stats())
            bad = relay(redis, None, sink)
            bad.start()
            got, code = txn(bad, '127.0.0.1', 'client.one.example',
                            'app@one.example', ['u@example.org'])
            check('rediss, CA not trusted: 451 4.3.0',
                  got[0].startswith('451 4.3.0') and code is None, got)
            check('rediss, CA not trusted: the log says verify failed',
                  bad.wait_log(r'rate_store: Redis does not answer \(TLS '
                               r'to 127\.0\.0\.1: .*verify', 10),
                  bad.log_tail(5))
        finally:
            for x in (good, bad):
                if x:
                    x.stop()
                    x.remove()
            redis.close()
    finish()


if __name__ == '__main__':
    main()
