#!/usr/bin/python3
"""test_rate_replay_error.py: Redis answers a commit with an error while
the box is idle (no RCPT to reset the connection): relay-policy resets
the connection itself and asks again, waiting longer after each failure
(man/relay-policy.8).

- the scripts are flushed from Redis between a RCPT and the end of its
  message: the commit sent on the kept connection (EVALSHA) is answered
  NOSCRIPT and journalled; on a new connection the script is sent whole
  again, so the journal is replayed within seconds, with no traffic: the
  log says the outage is over and the shared count holds the message;
- Redis then refuses the scripts (its ACL: NOPERM, on every connection)
  for 9 s while the box is idle: relay-policy connects anew after
  errors, waiting 1, 2, 4, 8 s (fewer asks and log lines than one a
  second); once the ACL is back the journal is replayed on its own."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from redisserver import COMMANDS, USER, PASSWORD, RedisServer  # noqa: E402
from test_rate_replay import count  # noqa: E402

SENDER = 'sender@example.com'
BACK = r'rate_store: Redis answers again after \d+ s'


def connections(redis):
    m = re.search(r'total_connections_received:(\d+)',
                  redis.cli('INFO', 'stats', admin=True))
    return int(m.group(1)) if m else -1


def message(inst, rcpt, between=None):
    """One message on a raw session; between() runs after its RCPT."""
    c = Raw(inst.port)
    try:
        c.reply()
        c.cmd(b'EHLO probe.example.com\r\n')
        c.cmd(b'MAIL FROM:<%s>\r\n' % SENDER.encode())
        r = c.cmd(b'RCPT TO:<%s>\r\n' % rcpt.encode())
        if between:
            between()
        c.cmd(b'DATA\r\n')
        d = c.cmd(b'Subject: x\r\n\r\nhi\r\n.\r\n')
        c.cmd(b'QUIT\r\n')
        return r[0], d[0]
    finally:
        c.close()


def test_noscript(inst, redis):
    codes = message(inst, 'before@example.org')
    check('before: a message counted in Redis (%r)' % (codes,),
          codes == (250, 250) and wait_until(lambda: count(inst) == 1, 10),
          count(inst))
    codes = message(inst, 'flushed@example.org', lambda: check(
        'SCRIPT FLUSH', 'OK' in redis.cli('SCRIPT', 'FLUSH', admin=True)))
    check('scripts flushed after the RCPT: the message accepted (%r)' %
          (codes,), codes == (250, 250), codes)
    check('its commit answered NOSCRIPT and journalled',
          inst.wait_log(r'rate_store: commit script: NOSCRIPT', 10),
          inst.log_tail(10))
    check('idle: the journal replayed on a new connection within 5 s',
          inst.wait_log(BACK, 5), inst.log_tail(10))
    check('the shared count holds both messages',
          wait_until(lambda: count(inst) == 2, 10), count(inst))


def test_errors_back_off(inst, redis):
    deny = COMMANDS + ' -@scripting'
    redis.cli('ACL', 'SETUSER', USER, 'reset', 'on', '>' + PASSWORD, '~*',
              *deny.split(), admin=True)
    before_log = inst.log().count('rate_store: commit script: NOPERM')
    codes = message(inst, 'denied@example.org')
    check('scripts refused: the message accepted on local counts (%r)' %
          (codes,), codes == (250, 250), codes)
    c0 = connections(redis)
    time.sleep(9)
    made = connections(redis) - c0
    errors = inst.log().count('rate_store: commit script: NOPERM') - \
        before_log
    print('# in 9 s of errors: %d connections, %d error lines' %
          (made, errors), flush=True)
    check('idle, 9 s of errors: it connected anew (%d times)' % made,
          made >= 2, made)
    # waits of 1, 2, 4, 8 s: 4 or 5 asks in 9 s (one a second: 9)
    check('... waiting longer each time: at most 6 connections and 6 '
          'error lines (%d, %d), not one a second' % (made, errors),
          made <= 6 and errors <= 6, (made, errors))
    mark = len(inst.log())
    redis.cli('ACL', 'SETUSER', USER, 'reset', 'on', '>' + PASSWORD, '~*',
              *COMMANDS.split(), admin=True)
    check('the ACL back: the journal replayed on its own within 20 s',
          wait_until(lambda: re.search(BACK, inst.log()[mark:]), 20),
          inst.log_tail(10))
    check('the shared count holds the three messages',
          wait_until(lambda: count(inst) == 3, 10), count(inst))


def main():
    with Sink() as sink, RedisServer() as redis:
        conf = {'rate_store': redis.url(), 'rate_store_timeout': 5000,
                'rate_store_fail': 'local',
                'rate_store_prefix': 'replayerr%d:' % os.getpid()}
        inst = Instance(conf_overrides=conf, sink=sink)
        try:
            inst.prepare()
            redis.write_auth(inst.dir)
            inst.start()
            test_noscript(inst, redis)
            test_errors_back_off(inst, redis)
            no_sanitizer_report(inst)
        finally:
            inst.stop()
            inst.remove()
    finish()


if __name__ == '__main__':
    main()
