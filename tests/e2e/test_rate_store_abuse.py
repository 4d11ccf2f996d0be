#!/usr/bin/python3
"""test_rate_store_abuse.py: abuse monitoring's suspensions travel through
the shared store (rate_store = redis://...): two boxes, one redis-server.

- box A's relay-queue suspends a device (DIR/abuse/suspended gets its
  line, written here the way relay-queue writes it: a new file renamed
  over the old): box B refuses that device with 550 5.7.1 within a few
  seconds, and box A too; another device of the same customer goes on.
- `relayctl abuse list` on box B shows the entry and box A's name;
  `relayctl abuse release` on box B is refused and names box A.
- the line leaves box A's file (as `relayctl abuse release` on box A
  does): both boxes accept the device again.
- relay-policy restarted on box A while its line was there, then the
  line removed while it was down: the stale entry does not outlive the
  restart (a box publishes its whole list at its first look).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from redisserver import TIMEOUT_MS, RedisServer  # noqa: E402

RULES = """\
customer two licenses=100 paid=yes
domain two.example customer=two
domain client.two.example customer=two
domain other.two.example customer=two
rule two lo senders=domain auth=ip
ip two lo 127.0.0.2/32
"""

DEV = '127.0.0.2/client.two.example'


def mail_reply(inst, helo):
    c = Raw(inst.port, source_ip='127.0.0.2')
    try:
        c.reply()
        c.cmd(b'EHLO ' + helo.encode() + b'\r\n')
        r = c.cmd(b'MAIL FROM:<a@two.example>\r\n')
        return '%d %s' % (r[0], r[1][-1])
    finally:
        c.close()


def write_suspended(inst, text):
    """As relay-queue replaces DIR/abuse/suspended: temp file, rename."""
    d = os.path.join(inst.dir, 'abuse')
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, '.suspended.test')
    with open(tmp, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, os.path.join(d, 'suspended'))


def refuses(inst, helo='client.two.example'):
    r = mail_reply(inst, helo)
    return r.startswith('550 5.7.1') and 'suspended' in r


def accepts(inst, helo='client.two.example'):
    return mail_reply(inst, helo).startswith('250')


def test_fleet(a, b):
    check('before: both boxes accept the device', accepts(a) and accepts(b),
          mail_reply(b, 'client.two.example'))
    write_suspended(a, 'device %s\n' % DEV)
    check('box A refuses the device it suspended',
          wait_until(lambda: refuses(a), 5), mail_reply(a, 'client.two.example'))
    check('box B refuses the device box A suspended, within 5 s',
          wait_until(lambda: refuses(b), 5), mail_reply(b, 'client.two.example'))
    check('box B: another device of the customer goes on',
          accepts(b, 'other.two.example'), mail_reply(b, 'other.two.example'))
    r = b.relayctl('abuse', 'list')
    check('relayctl abuse list on box B shows the entry with its box',
          'fleet      device:%s box=a.relaybox.test' % DEV in r.stdout, r)
    r = b.relayctl('abuse', 'release', 'device:' + DEV)
    check('relayctl abuse release on box B: refused, names box A',
          r.returncode != 0 and 'suspended by box a.relaybox.test' in
          r.stderr, r)
    check('release refused on box B: box B still refuses', refuses(b))
    write_suspended(a, '')
    check('released on box A: box A accepts again',
          wait_until(lambda: accepts(a), 5), mail_reply(a, 'client.two.example'))
    check('released on box A: box B accepts again within 5 s',
          wait_until(lambda: accepts(b), 5), mail_reply(b, 'client.two.example'))


def test_restart(a, b):
    write_suspended(a, 'device %s\n' % DEV)
    check('restart: box B refuses again',
          wait_until(lambda: refuses(b), 5), mail_reply(b, 'client.two.example'))
    a.stop()
    write_suspended(a, '')
    check('restart: box A down, its published entry still holds on B',
          refuses(b), mail_reply(b, 'client.two.example'))
    a.start()
    check('restart: box A back with an empty list, box B accepts',
          wait_until(lambda: accepts(b), 8), mail_reply(b, 'client.two.example'))


def main():
    with Sink() as sink, RedisServer() as redis:
        conf = {'rate_store': redis.url(), 'rate_store_timeout': TIMEOUT_MS,
                'rate_store_prefix': 'abusefleet%d:' % os.getpid()}
        a = Instance(conf_overrides=dict(conf, hostname='a.relaybox.test'),
                     rules_text=RULES, sink=sink)
        b = Instance(conf_overrides=dict(conf, hostname='b.relaybox.test'),
                     rules_text=RULES, sink=sink)
        try:
            for box in (a, b):
                box.prepare()
                redis.write_auth(box.dir)
                box.start()
            test_fleet(a, b)
            test_restart(a, b)
        finally:
            for box in (a, b):
                box.stop()
                box.remove()
    finish()


if __name__ == '__main__':
    main()
