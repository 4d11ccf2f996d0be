#!/usr/bin/python3
"""test_rate_privsep.py: the rate counters file and the uids around it
(ARCHITECTURE.md "Rate counters", the trust table's counters rows).

- relay-metrics' group can open the counters file, so it can flock it:
  a lock held on it, shared or exclusive, by a taken-over relay-metrics
  (or a hung `relayctl stats`) must not hold up relay-policy.  Every
  RCPT updates the counters, and a restart of relay-policy opens them:
  with such a lock held a whole SMTP transaction still completes within
  seconds, after a restart of relay-policy too, and relayctl stats reads
  the counts meanwhile (readers take no lock: the file's seqlock).
Not root: prints a SKIP note and no PASS line.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, check, finish, skipped_unless_root,  # noqa: E402
                     smtp_session, wait_until)

RULES = """\
customer one licenses=10 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""
BOUND = 5  # seconds a transaction may take while the lock is held


def send(inst, rcpt):
    """One SMTP transaction with one RCPT: (DATA's code, seconds taken);
    code 0 when the relay did not answer within its timeout."""
    t0 = time.time()
    try:
        s = smtp_session(inst.port, timeout=BOUND * 3)
        s.ehlo('client.one.example')
        s.mail('app@one.example')
        code = s.rcpt(rcpt)[0]
        if code == 250:
            code = s.data(b'Subject: lock\r\n\r\nhello\r\n')[0]
        s.quit()
    except OSError:
        code = 0
    return code, time.time() - t0


def hold_lock(path, mode):
    """flock(1) as relaymetrics (its group reads the file), held for 60 s:
    the process, once the lock is taken."""
    p = subprocess.Popen(
        ['setpriv', '--reuid=relaymetrics', '--regid=relaymetrics',
         '--clear-groups', 'flock', mode, path, 'sh', '-c',
         'echo held; exec sleep 60'],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = p.stdout.readline()
    check('lock %s: relaymetrics holds a lock on the counters file' % mode,
          line.strip() == 'held', line)
    return p


def release(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    p.wait(10)
    p.stdout.close()


def stats_show(inst, want):
    """(relayctl stats --customer one shows want, what it said)."""
    try:
        r = inst.relayctl('stats', '--customer', 'one', timeout=BOUND * 3)
    except subprocess.TimeoutExpired:
        return False, 'relayctl stats: no answer in %d s' % (BOUND * 3)
    return r.returncode == 0 and want in r.stdout, r.stdout + r.stderr


def restart_policy(inst):
    """kill -9 relay-policy; True once relay-master has started another."""
    pid = inst.status().get('relay-policy', (0, 0))[0]
    if pid <= 0:
        return False
    os.kill(pid, signal.SIGKILL)
    return bool(wait_until(lambda: inst.status().get(
        'relay-policy', (0, 0))[0] not in (0, pid), 20))


def test_lock_held(inst, mode, n):
    counters = inst.path('counters')
    p = hold_lock(counters, mode)
    try:
        code, took = send(inst, 'held%d@example.org' % n)
        check('lock %s: a transaction completes (250 after DATA)' % mode,
              code == 250, code)
        check('lock %s: within %d s (took %.1f s)' % (mode, BOUND, took),
              took < BOUND)
        check('lock %s: relay-policy restarted' % mode, restart_policy(inst))
        code, took = send(inst, 'again%d@example.org' % n)
        check('lock %s: after a restart of relay-policy still 250 within '
              '%d s (took %.1f s)' % (mode, BOUND, took),
              code == 250 and took < BOUND, code)
        check('lock %s: relayctl stats reads the counts meanwhile' % mode,
              *stats_show(inst, 'rcpts_24h=%d/' % (2 * n)))
    finally:
        release(p)


def main():
    if skipped_unless_root('rate counters and uids'):
        return
    with Instance(rules_text=RULES) as inst:
        check('counters: readable by relay-metrics\' group',
              os.stat(inst.path('counters')).st_mode & 0o040)
        test_lock_held(inst, '-s', 1)
        test_lock_held(inst, '-x', 2)
    finish()


main()
