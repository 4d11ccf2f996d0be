#!/usr/bin/python3
"""test_master_orphans.py: relay-master dies without stopping its daemons
(kill -9, the OOM killer), as root, where the daemons run under their own
uids (the case that matters: the kernel forgets the parent-death signal
of a process that changes its uid):
  - every daemon of the instance (relay-smtpd workers and relay-remote's
    workers included) exits within a bounded time;
  - relayctl start then starts the relay again, which delivers once;
  - a second relay-send on the queue of a running relay exits at once,
    naming the pid of the one that runs;
  - a relay-send left over from an earlier run keeps relayctl start from
    starting a second one beside it: start fails and names its pid; once
    it is gone, start works and a message is delivered exactly once;
  - relayctl stop (pool workers with many sessions or one, or one
    relay-smtpd per connection), and relay-master's death too, with a
    client idle in DATA (in plain text, and after STARTTLS): its
    relay-smtpd ends within relay-master's grace (5 s), the client is told
    421 4.3.2 and sees its connection closed; no process of the instance
    stays.  (relay-listen's plain SIGTERM, when
    it alone is stopped or restarted, lets the sessions go on:
    test_smtpd_protocol.py.)"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, Sink, alive, check, finish,  # noqa: E402
                     raw_in_data, skipped_unless_root, smtp_session,
                     wait_until)
from certs import TestCerts  # noqa: E402

EXIT_BOUND = 15  # seconds for every orphan to go (SIGTERM, then its own exit)
STOP_GRACE = 5   # relay-master's, before its SIGKILL (relay-master.8)


def own_uids(inst):
    """The daemons run under uids other than root's (the real case)."""
    st = inst.status()
    return all(uid != 0 for n, (pid, uid) in st.items()
               if n != 'relay-master' and pid)


def send_one(inst, rcpt):
    with smtp_session(inst.port) as c:
        return c.sendmail('orphan@example.com', [rcpt],
                          b'Subject: once\r\n\r\nonly once\r\n') == {}


def hand_send(inst):
    """relay-send started by hand on inst's queue, in a session of its own
    (no parent that would take it along): a leftover of an earlier run."""
    return subprocess.Popen([os.path.join(BIN, 'relay-send'), '-d', inst.dir],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def lock_pid(inst):
    """The pid written in queue/send.lock, 0 when none."""
    try:
        with open(inst.path('queue/send.lock')) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def end(proc):
    if proc.poll() is None:
        proc.kill()
    return proc.communicate(timeout=10)[0].decode(errors='replace')


def test_master_killed(sink):
    inst = Instance(sink=sink)
    with inst:
        check('master killed: the daemons run under their own uids',
              own_uids(inst), inst.status())
        master = inst.proc.pid
        daemons = [p for p in inst.pids() if p != master]
        check('master killed: daemons and workers found (%d)' % len(daemons),
              len(daemons) >= 5, daemons)
        os.kill(master, signal.SIGKILL)
        inst.proc.wait(timeout=10)
        gone = wait_until(lambda: not any(alive(p) for p in daemons),
                          EXIT_BOUND)
        left = [(p, open('/proc/%d/cmdline' % p).read().replace('\0', ' '))
                for p in daemons if alive(p)]
        check('master killed: every daemon exits within %d s' % EXIT_BOUND,
              gone, left)
        for p in daemons:  # never leave them behind, whatever the outcome
            if alive(p):
                os.kill(p, signal.SIGKILL)
        r = inst.relayctl('start', '-w', '30')
        check('master killed: relayctl start starts the relay again',
              r.returncode == 0, r.stdout + r.stderr)
        try:
            sends = inst.pids(['relay-send'])
            check('master killed: then one relay-send', len(sends) == 1, sends)
            check('master killed: a message is accepted',
                  send_one(inst, 'after-kill@example.org'))
            sink.wait_for(1, 30)
            time.sleep(2)
            check('master killed: delivered once', sink.count() == 1,
                  sink.count())
        finally:
            inst.relayctl('stop')


def test_second_send(sink):
    with Instance(sink=sink) as inst:
        first = inst.status()['relay-send'][0]
        proc = hand_send(inst)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        out = end(proc)
        check('second relay-send on a running queue: exits (111)',
              proc.returncode == 111, (proc.returncode, out))
        check('second relay-send: names the pid of the one that runs',
              ('pid %d' % first) in out, out)
        check('second relay-send: the first still runs', alive(first))


def test_leftover_blocks_start(sink):
    inst = Instance(sink=sink).prepare()
    r = inst.relayctl('start', '-w', '30')  # the queue's folders, its lock
    check('leftover relay-send: a first start and stop', r.returncode == 0
          and inst.relayctl('stop').returncode == 0, r.stdout + r.stderr)
    left = hand_send(inst)
    try:
        check('leftover relay-send: it runs and holds the queue',
              wait_until(lambda: lock_pid(inst) == left.pid, 10))
        r = inst.relayctl('start', '-w', '20', timeout=90)
        both = r.stdout + r.stderr
        check('leftover relay-send: relayctl start fails',
              r.returncode != 0, both)
        check('leftover relay-send: start names its pid',
              ('pid %d' % left.pid) in both, both)
        check('leftover relay-send: no second relay-send runs',
              wait_until(lambda: inst.pids(['relay-send']) == [left.pid], 5),
              inst.pids(['relay-send']))
        check('leftover relay-send: no relay-master stays',
              wait_until(lambda: not inst.pids(['relay-master']), 5),
              inst.pids(['relay-master']))
        inst.relayctl('stop')
        end(left)
        r = inst.relayctl('start', '-w', '30')
        check('leftover gone: relayctl start works', r.returncode == 0,
              r.stdout + r.stderr)
        check('leftover gone: a message is accepted',
              send_one(inst, 'after-leftover@example.org'))
        sink.wait_for(1, 30)
        time.sleep(2)
        check('leftover gone: delivered once', sink.count() == 1,
              sink.count())
    finally:
        inst.relayctl('stop')
        end(left)
        for p in inst.pids():
            os.kill(p, signal.SIGKILL)
        inst.remove()


def left_of(pids):
    """The pids still there, each with its command line."""
    left = []
    for p in pids:
        try:
            with open('/proc/%d/cmdline' % p) as f:
                left.append((p, f.read().replace('\0', ' ')))
        except OSError:
            pass
    return left


def test_stop_open_session(sink, how, conf=None, certs=None):
    """relayctl stop, or kill -9 of relay-master, with a session open
    (started with relayctl start, as an operator does)."""
    conf = dict(conf or {}, **(certs.conf() if certs else {}))
    inst = Instance(sink=sink, conf_overrides=conf).prepare()
    raw = None
    try:
        r = inst.relayctl('start', '-w', '30')
        check('%s, a session in DATA: relayctl start' % how,
              r.returncode == 0, r.stdout + r.stderr)
        raw = raw_in_data(inst.port, certs and certs.client_context())
        procs = inst.pids()
        workers = inst.pids(['relay-smtpd'])
        t0 = time.time()
        if how.startswith('stop'):
            r = inst.relayctl('stop')
            check('%s, a session in DATA: relayctl stop exits 0' % how,
                  r.returncode == 0, r.stdout + r.stderr)
        else:
            os.kill(inst.status()['relay-master'][0], signal.SIGKILL)
        bound = STOP_GRACE + 1 if how.startswith('stop') else EXIT_BOUND
        end = raw.until_closed(bound)
        check('%s, a session in DATA: the client sees its connection '
              'closed' % how, end is not None)
        check('%s, a session in DATA: told 421 4.3.2 before the close'
              % how, end is not None and end.startswith(b'421 4.3.2 '), end)
        gone = wait_until(lambda: not any(alive(p) for p in procs),
                          max(0.1, bound - (time.time() - t0)))
        check('%s, a session in DATA: no relay-smtpd (of %s) nor any '
              'other process stays (%d s)' % (how, workers, bound),
              gone, left_of(procs))
    finally:
        if raw:
            raw.close()
        inst.relayctl('stop')
        for p in inst.pids():
            os.kill(p, signal.SIGKILL)
        inst.remove()


def main():
    with Sink() as sink:
        test_stop_open_session(sink, 'stop')
    with Sink() as sink:
        test_stop_open_session(sink, 'stop, one session per worker',
                               {'smtpd_sessions_per_worker': 1})
    with Sink() as sink:
        test_stop_open_session(sink, 'stop, one relay-smtpd per connection',
                               {'smtpd_workers_min': 0})
    with TestCerts() as certs, Sink() as sink:
        test_stop_open_session(sink, 'stop, in TLS', certs=certs)
    with TestCerts() as certs, Sink() as sink:
        test_stop_open_session(sink, 'stop, in TLS, one relay-smtpd per '
                               'connection', {'smtpd_workers_min': 0}, certs)
    with Sink() as sink:
        test_stop_open_session(sink, 'master killed')
    if skipped_unless_root('test_master_orphans'):
        finish()
        return
    with Sink() as sink:
        test_master_killed(sink)
    with Sink() as sink:
        test_second_send(sink)
    with Sink() as sink:
        test_leftover_blocks_start(sink)
    finish()


if __name__ == '__main__':
    main()
