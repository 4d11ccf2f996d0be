#!/usr/bin/python3
"""test_rate_window.py: the sliding windows on the wire, with relay-policy's
clock frozen and moved by libfaketime (only relay-policy is faked; the
other daemons keep the real clock).

Customer "one" has 1 paid license: 9 per 10 minutes, 130 per 24 h.
- 00:00:00  9 recipients accepted, the 10th gets 450 4.2.1
- 00:09:59  still 450 4.2.1 (the window has not moved past them)
- 00:10:00  room again: 9 more accepted, the 10th refused
- ... repeated until 130 are counted in the day: then 550 5.7.1
- 24 h after the first counts (+ the minute they were in): room again.
"""
import calendar
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403

LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'
RULES = """\
customer one licenses=1 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""
PEAK = '450 4.2.1 Peak SMTP relay limit exceeded for customer.'
DAILY = '550 5.7.1 Daily SMTP relay limit exceeded for customer.'


class Clock:
    """relay-policy's frozen clock, read from a file on every call."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='rate-clock-')
        os.chmod(self.dir, 0o755)  # relay-policy reads it after dropping root
        self.file = os.path.join(self.dir, 'faketime')

    def set(self, stamp):
        tmp = self.file + '.tmp'
        with open(tmp, 'w') as f:
            f.write(stamp + '\n')
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.file)

    def env(self):
        os.environ.update({
            'LD_PRELOAD': LIB,
            'FAKETIME_TIMESTAMP_FILE': self.file,
            'FAKETIME_NO_CACHE': '1',
            'FAKETIME_DONT_FAKE_MONOTONIC': '1',
            'FAKETIME_ONLY_CMDS': 'relay-policy',
            'TZ': 'UTC',
            # ASan wants to be first in the library list; faketime is
            # preloaded before it, which is harmless here
            'ASAN_OPTIONS': 'verify_asan_link_order=0',
        })

    def close(self):
        for k in ('LD_PRELOAD', 'FAKETIME_TIMESTAMP_FILE', 'FAKETIME_NO_CACHE',
                  'FAKETIME_DONT_FAKE_MONOTONIC', 'FAKETIME_ONLY_CMDS'):
            os.environ.pop(k, None)
        shutil.rmtree(self.dir, ignore_errors=True)


def send(inst, n, tag):
    """One transaction with n recipients: the RCPT replies, DATA's code."""
    c = Raw(inst.port)
    c.reply()
    c.cmd(b'EHLO client.one.example\r\n')
    c.cmd(b'MAIL FROM:<app@one.example>\r\n')
    got = []
    for i in range(n):
        r = c.cmd(b'RCPT TO:<%s%d@example.org>\r\n' % (tag.encode(), i))
        got.append('%d %s' % (r[0], r[1][-1]))
    code = None
    if any(g.startswith('250') for g in got):
        c.cmd(b'DATA\r\n')
        code = c.cmd(b'Subject: w\r\n\r\nx\r\n.\r\n')[0]
    c.cmd(b'QUIT\r\n')
    c.close()
    return got, code


def wait_counted(inst, stamp, want, timeout=10):
    """Wait until the counters file holds want recipients in the day of
    the faked time stamp.  relay-smtpd sends phase=commit before its 250
    but does not wait for the answer, so the count may land a moment
    after the client's 250: moving the clock before it would date it
    wrong.  True when it got there."""
    now = calendar.timegm(time.strptime(stamp, '%Y-%m-%d %H:%M:%S'))
    deadline = time.time() + timeout
    while True:
        r = inst.relayctl('stats', '--customer', 'one', '--now', now)
        m = re.search(r'rcpts_24h=(\d+)/', r.stdout)
        if (m and int(m.group(1)) == want) or time.time() > deadline:
            return bool(m and int(m.group(1)) == want)
        time.sleep(0.02)


def ok9_then(got, code, last):
    return all(g.startswith('250') for g in got[:9]) and got[9] == last \
        and code == 250


def main():
    if not os.path.exists(LIB):
        skip('rate window', 'libfaketime not installed')
        finish()
    clock = Clock()
    clock.set('2026-01-01 00:00:00')
    clock.env()
    try:
        with Sink() as sink, Instance(rules_text=RULES, sink=sink) as inst:
            got, code = send(inst, 10, 'a')
            check('00:00:00: 9 accepted, the 10th 450 4.2.1',
                  ok9_then(got, code, PEAK), got)
            check('00:00:00: 9 counted', wait_counted(inst, '2026-01-01 00:00:00', 9))
            clock.set('2026-01-01 00:09:59')
            got, _ = send(inst, 1, 'b')
            check('00:09:59: still 450 4.2.1', got == [PEAK], got)
            clock.set('2026-01-01 00:10:00')
            got, code = send(inst, 10, 'c')
            check('00:10:00: room again, 9 accepted, the 10th 450 4.2.1',
                  ok9_then(got, code, PEAK), got)
            wait_counted(inst, '2026-01-01 00:10:00', 18)
            # fill the day: 18 counted so far, 130 allowed
            total, t = 18, 20
            while total + 9 <= 126:
                stamp = '2026-01-01 %02d:%02d:00' % (t // 60, t % 60)
                clock.set(stamp)
                got, code = send(inst, 9, 'd%d.' % t)
                total += sum(g.startswith('250') for g in got) if code == 250 else 0
                wait_counted(inst, stamp, total)
                t += 10
            stamp = '2026-01-01 %02d:%02d:00' % (t // 60, t % 60)
            clock.set(stamp)
            got, code = send(inst, 5, 'e')
            wait_counted(inst, stamp, 130)
            check('the 131st recipient of the day gets 550 5.7.1',
                  total == 126 and all(g.startswith('250') for g in got[:4])
                  and got[4] == DAILY and code == 250,
                  repr((total, got)))
            clock.set('2026-01-01 23:59:59')
            got, _ = send(inst, 1, 'f')
            check('23:59:59: still 550 5.7.1 (no reset at midnight)',
                  got == [DAILY], got)
            clock.set('2026-01-02 00:00:59')
            got, _ = send(inst, 1, 'g')
            check('24 h after the first counts, within their minute: still 550',
                  got == [DAILY], got)
            clock.set('2026-01-02 00:01:00')
            got, code = send(inst, 10, 'h')
            check('once their minute has left the day: 9 free again, then 550',
                  ok9_then(got, code, DAILY), got)
            now = calendar.timegm((2026, 1, 2, 0, 1, 0, 0, 0, 0))
            r = inst.relayctl('stats', '--customer', 'one', '--now', now)
            check('stats under the moved clock: 130/130 daily, 9/9 peak',
                  'rcpts_24h=130/130 rcpts_10m=9/9' in r.stdout, r.stdout + r.stderr)
    finally:
        clock.close()
    finish()


main()
