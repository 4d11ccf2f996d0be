#!/usr/bin/python3
"""test_rate_store_sentinel.py: rate_store = redis-sentinel://... follows a
failover.  A master and its replica (redis-server, loopback, ACL user)
watched by one Sentinel; a relay with rate_store naming the Sentinel and
the master set.  Customer "one" (peak 9) sends 5 recipients; once the
replica has them, the Sentinel fails the master over to the replica and
(some 10 s later) makes the old master a replica, which drops its
clients; the relay, never restarted, finds the new master by itself
and the counts came along: of 1 + 6 more recipients 4 are accepted,
then 450 4.2.1.  Until that drop the old master still takes writes
(Redis's own window): recipients counted there would be lost when it
becomes a replica, so the test sends nothing in between.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from redisserver import PASSWORD, TIMEOUT_MS, USER, RedisServer  # noqa: E402
from test_rate_store import PEAK, RULES, txn  # noqa: E402

def send(inst, n, prefix):
    return txn(inst, '127.0.0.1', 'client.one.example', 'app@one.example',
               ['%s%d@example.org' % (prefix, k) for k in range(n)])


def role(server):
    return server.cli('ROLE').split('\n')[0].strip()


def repl_offset(server):
    """How far its replication stream goes (INFO replication)."""
    m = re.search(r'^master_repl_offset:(\d+)', server.cli('INFO',
                                                          'replication'),
                  re.M)
    return int(m.group(1)) if m else -1


def main():
    repl = 'masteruser %s\nmasterauth %s\n' % (USER, PASSWORD)
    master = RedisServer(extra=repl, commands='&* +@all')
    replica = RedisServer(extra=repl, commands='&* +@all')
    sentinel = None
    try:
        master.start()
        replica.extra += 'replicaof 127.0.0.1 %d\n' % master.port
        replica.start()
        sentinel = RedisServer(sentinel=True, extra=(
            'sentinel monitor fleet 127.0.0.1 %d 1\n'
            'sentinel auth-user fleet %s\nsentinel auth-pass fleet %s\n'
            'sentinel down-after-milliseconds fleet 2000\n'
            'sentinel failover-timeout fleet 10000\n'
            % (master.port, USER, PASSWORD)))
        sentinel.start()
        check('sentinel knows the replica and its link is up', wait_until(
            lambda: 'master-link-status\nok' in
            sentinel.cli('SENTINEL', 'replicas', 'fleet'), 30),
            sentinel.cli('SENTINEL', 'replicas', 'fleet'))
        url = 'redis-sentinel://127.0.0.1:%d/fleet/3' % sentinel.port
        inst = Instance(conf_overrides={'rate_store': url,
                                        'rate_store_timeout': TIMEOUT_MS},
                        rules_text=RULES)
        inst.prepare()
        master.write_auth(inst.dir)
        with Sink() as sink:
            inst.sink = sink
            inst.start()
            try:
                got, code = send(inst, 5, 'before')
                check('before the failover: 5 accepted through the master',
                      code == 250 and all(g.startswith('250') for g in got),
                      (got, code, inst.log_tail(5)))
                def stats():  # the commit lands a moment after the 250
                    return inst.relayctl('stats', '--customer', 'one').stdout
                check('before the failover: the master counts 5',
                      wait_until(lambda: 'rcpts_10m=5/9' in stats(), 10),
                      stats())
                at = repl_offset(master)
                check('before the failover: the replica has the counts',
                      wait_until(lambda: repl_offset(replica) >= at, 20),
                      (at, repl_offset(replica)))
                sentinel.cli('SENTINEL', 'failover', 'fleet')
                check('the replica became master', wait_until(
                    lambda: role(replica) == 'master', 20), role(replica))
                check('the old master became a replica', wait_until(
                    lambda: role(master) == 'slave', 60, 0.5), role(master))
                got = []

                def after():
                    got[:] = [send(inst, 1, 'probe')]
                    return got[0][1] == 250
                check('after the failover the relay counts again, '
                      'without a restart', wait_until(after, 20, 0.5), got)
                got, code = send(inst, 6, 'after')
                check('the counts came along: 3 of 6 accepted (5 + 1 + 3)',
                      [g[:9] for g in got] == ['250 2.1.5'] * 3 +
                      [PEAK[:9]] * 3, got)
            finally:
                inst.stop()
                inst.remove()
    finally:
        for s in (sentinel, replica, master):
            if s:
                s.close()
    finish()


if __name__ == '__main__':
    main()
