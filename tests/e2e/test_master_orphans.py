#!/usr/bin/python3
"""test_master_orphans.py: relay-master dies without stopping its daemons
(kill -9, the OOM killer), as root, where the daemons run under their own
uids (the case that matters: the kernel forgets the parent-death signal
of a process that changes its uid):
  - every daemon of the instance (relay-smtpd workers and relay-remote's
    workers included) exits within a bounded time;
  - relayctl start then starts the relay again, which delivers once."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     skipped_unless_root, smtp_session, wait_until)

EXIT_BOUND = 15  # seconds for every orphan to go (SIGTERM, then its own exit)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def own_uids(inst):
    """The daemons run under uids other than root's (the real case)."""
    st = inst.status()
    return all(uid != 0 for n, (pid, uid) in st.items()
               if n != 'relay-master' and pid)


def send_one(inst, rcpt):
    with smtp_session(inst.port) as c:
        return c.sendmail('orphan@example.com', [rcpt],
                          b'Subject: once\r\n\r\nonly once\r\n') == {}


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


def main():
    if skipped_unless_root('test_master_orphans'):
        finish()
        return
    with Sink() as sink:
        test_master_killed(sink)
    finish()


if __name__ == '__main__':
    main()
