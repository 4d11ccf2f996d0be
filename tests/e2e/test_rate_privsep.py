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
- relay-policy can rewrite the file, so it opens, checks, sets aside and
  grows it only after dropping root, in a folder of its own (DIR/rate/):
  a header it damaged is set aside and the new file is relaypolicy's,
  group relaymetrics, 0640, which relay-metrics and relayctl stats read;
  a grown file likewise.
- an instance of a release before DIR/rate/ has DIR/counters: relay-master
  moves it into the folder, counts kept.
- counters_file in a folder of the operator's (root's): relay-master
  creates it empty for relay-policy, which sizes and counts in it.
Not root: prints a SKIP note and no PASS line.
"""
import grp
import os
import pwd
import signal
import stat
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, as_user, check, finish,  # noqa: E402
                     free_port, skipped_unless_root, smtp_session,
                     wait_until)

RULES = """\
customer one licenses=10 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""
BOUND = 5  # seconds a transaction may take while the lock is held


def counters_path(inst):
    """DIR/rate/counters, or DIR/counters where releases before the
    folder kept it (so that this test runs on those too)."""
    p = inst.path('rate/counters')
    return p if os.path.exists(p) else inst.path('counters')


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


def owned_right(path):
    """(relaypolicy:relaymetrics 0640, what it is)."""
    try:
        st = os.stat(path)
    except OSError as e:
        return False, str(e)
    who = (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
           oct(stat.S_IMODE(st.st_mode)))
    return who == ('relaypolicy', 'relaymetrics', '0o640'), who


def metrics_24h(mport):
    """relay-metrics' count of customer one's recipients in 24 h."""
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % mport,
                                    timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    want = 'relay_customer_recipients{customer="one",window="24h"} '
    for line in text.splitlines():
        if line.startswith(want):
            return float(line.split()[-1])
    return None


def readable_by_metrics(path):
    def read():
        with open(path, 'rb') as f:
            return len(f.read(8))
    return as_user('relaymetrics', read) == 8


def test_bad_header(inst, mport):
    path = counters_path(inst)
    before = inst.log().count('bad header or version')

    def damage():
        with open(path, 'r+b') as f:
            f.write(b'XXXXXXXX')
        return 'done'
    check('bad header: relaypolicy can write the counters (its file)',
          as_user('relaypolicy', damage) == 'done')
    check('bad header: relay-policy restarted', restart_policy(inst))
    check('bad header: the damaged file is set aside (logged)',
          wait_until(lambda: inst.log().count('bad header or version')
                     > before, 20), inst.log_tail())
    code, took = send(inst, 'afterbad@example.org')
    check('bad header: mail goes on (250)', code == 250, code)
    check('bad header: the new counters file is relaypolicy:relaymetrics '
          '0640', *owned_right(path))
    check('bad header: relay-metrics\' uid can read it',
          readable_by_metrics(path))
    check('bad header: relayctl stats reads it', *stats_show(
        inst, 'rcpts_24h=1/'))
    check('bad header: relay-metrics counts from it',
          wait_until(lambda: metrics_24h(mport) == 1, 15), metrics_24h(mport))


def test_grow(inst):
    with open(inst.path('relay.conf'), 'a') as f:
        f.write('rate_users_max = 4096\n')
    check('grow: relay-policy restarted', restart_policy(inst))
    check('grow: the file grew (logged)',
          inst.wait_log(r'counters file .* grown to 4096 users', 20),
          inst.log_tail())
    path = counters_path(inst)
    check('grow: the grown file is relaypolicy:relaymetrics 0640',
          *owned_right(path))
    check('grow: relay-metrics\' uid can read it', readable_by_metrics(path))
    check('grow: counts kept', *stats_show(inst, 'rcpts_24h=1/'))


def test_old_layout():
    """A file at DIR/counters, as releases before DIR/rate/ kept it."""
    inst = Instance(rules_text=RULES)
    try:
        inst.start()
        send(inst, 'old@example.org')
        inst.stop()
        if not os.path.exists(inst.path('rate/counters')):
            check('old layout: the counters are in DIR/rate/', False)
            return
        os.rename(inst.path('rate/counters'), inst.path('counters'))
        # root's, as an older relay-policy left a file it made afresh
        os.chown(inst.path('counters'), 0, 0)
        os.chmod(inst.path('counters'), 0o600)
        inst.start()
        check('old layout: moved into rate/ (logged)',
              inst.wait_log(r'counters of an older release moved', 10),
              inst.log_tail())
        check('old layout: nothing left at DIR/counters',
              not os.path.exists(inst.path('counters')))
        check('old layout: counts kept', *stats_show(inst, 'rcpts_24h=1/'))
        check('old layout: root\'s file handed to relaypolicy:relaymetrics '
              '0640', *owned_right(inst.path('rate/counters')))
        check('old layout: a recipient still gets 250',
              send(inst, 'after@example.org')[0] == 250)
        inst.stop()
        os.symlink(inst.path('rate/counters'), inst.path('counters'))
        inst.start()
        check('old layout: a link at DIR/counters is left there (logged)',
              inst.wait_log(r'counters is not a file .* left there, unused',
                            10) and os.path.islink(inst.path('counters')),
              inst.log_tail())
    finally:
        inst.stop()
        inst.remove()


def test_elsewhere():
    inst = Instance(rules_text=RULES).prepare()
    try:
        os.mkdir(inst.path('other'), 0o755)  # root's, as an operator's
        inst.conf_overrides['counters_file'] = inst.path('other/counters')
        inst._write_conf()
        inst.start()
        code, _ = send(inst, 'elsewhere@example.org')
        check('elsewhere: mail counted in a counters_file of root\'s '
              'folder (250)', code == 250, code)
        check('elsewhere: relayctl stats reads it',
              *stats_show(inst, 'rcpts_24h=1/'))
        check('elsewhere: relaypolicy:relaymetrics 0640',
              *owned_right(inst.path('other/counters')))
        check('elsewhere: no rate/counters made',
              not os.path.exists(inst.path('rate/counters')))
    finally:
        inst.stop()
        inst.remove()


def stats_once(inst, want):
    try:
        r = inst.relayctl('stats', '--customer', 'one', timeout=BOUND * 3)
    except subprocess.TimeoutExpired:
        return False, 'relayctl stats: no answer in %d s' % (BOUND * 3)
    return r.returncode == 0 and want in r.stdout, r.stdout + r.stderr


def stats_show(inst, want):
    """(relayctl stats --customer one shows want, what it said), waiting
    up to 5 s: a commit may land a moment after the client's 250."""
    got = [(False, '')]

    def shows():
        got[0] = stats_once(inst, want)
        return got[0][0]
    wait_until(shows, 5, 0.2)
    return got[0]


def restart_policy(inst):
    """kill -9 relay-policy; True once relay-master has started another
    and it listens."""
    pid = inst.status().get('relay-policy', (0, 0))[0]
    if pid <= 0:
        return False
    os.kill(pid, signal.SIGKILL)
    new = wait_until(lambda: inst.status().get(
        'relay-policy', (0, 0))[0] not in (0, pid) and
        inst.status()['relay-policy'][0], 20)
    return bool(new and inst.wait_log(
        r'relay-policy\[%d\]: info: listening on' % new, 20))


def test_lock_held(inst, mode, n):
    p = hold_lock(counters_path(inst), mode)
    try:
        code, took = send(inst, 'held%d@example.org' % n)
        check('lock %s: a transaction completes (250 after DATA)' % mode,
              code == 250, code)
        check('lock %s: within %d s (took %.1f s)' % (mode, BOUND, took),
              took < BOUND)
        # counted before the kill: a commit in flight dies with it
        check('lock %s: relayctl stats reads the count meanwhile' % mode,
              *stats_show(inst, 'rcpts_24h=%d/' % (2 * n - 1)))
        check('lock %s: relay-policy restarted' % mode, restart_policy(inst))
        code, took = send(inst, 'again%d@example.org' % n)
        check('lock %s: after a restart of relay-policy still 250 within '
              '%d s (took %.1f s)' % (mode, BOUND, took),
              code == 250 and took < BOUND, code)
        check('lock %s: counted after the restart' % mode,
              *stats_show(inst, 'rcpts_24h=%d/' % (2 * n)))
    finally:
        release(p)


def main():
    if skipped_unless_root('rate counters and uids'):
        return
    mport = free_port()
    with Instance(rules_text=RULES, conf_overrides={
            'metrics_listen': '127.0.0.1:%d' % mport}) as inst:
        check('counters: readable by relay-metrics\' group',
              os.stat(counters_path(inst)).st_mode & 0o040)
        test_lock_held(inst, '-s', 1)
        test_lock_held(inst, '-x', 2)
        test_bad_header(inst, mport)
        test_grow(inst)
    test_old_layout()
    test_elsewhere()
    finish()


main()
