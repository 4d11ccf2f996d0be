#!/usr/bin/python3
"""test_delivery_sched.py: relay-send and relay-remote (its workers too)
run under SCHED_BATCH, so that waking one of them never preempts the
process that woke it (relay-send goes on dispatching, a worker goes on
to its next read); the accepting side (relay-smtpd, relay-queue,
relay-policy) stays SCHED_OTHER.  The policy is field 41 of
/proc/<pid>/stat (0 SCHED_OTHER, 3 SCHED_BATCH)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, smtp_session  # noqa: E402

SCHED_OTHER, SCHED_BATCH = 0, 3


def policy(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[38])
    except (OSError, ValueError, IndexError):
        return -1


def children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        with smtp_session(inst.port) as c:
            c.sendmail('a@example.com', ['b@example.org'],
                       b'Subject: sched\r\n\r\nbody\r\n')
        check('a message is delivered', sink.wait_for(1, 30), inst.log_tail())
        st = inst.status()
        for name in ('relay-send', 'relay-remote'):
            pid = st.get(name, (0, 0))[0]
            check('%s runs under SCHED_BATCH' % name,
                  pid > 0 and policy(pid) == SCHED_BATCH,
                  '%s pid %d policy %d' % (name, pid, policy(pid)))
        workers = children(st.get('relay-remote', (0, 0))[0])
        check('relay-remote\'s workers run under SCHED_BATCH',
              workers and all(policy(p) == SCHED_BATCH for p in workers),
              repr([(p, policy(p)) for p in workers]))
        for name in ('relay-queue', 'relay-policy'):
            pid = st.get(name, (0, 0))[0]
            check('%s stays SCHED_OTHER' % name,
                  pid > 0 and policy(pid) == SCHED_OTHER,
                  '%s pid %d policy %d' % (name, pid, policy(pid)))


main()
finish()
