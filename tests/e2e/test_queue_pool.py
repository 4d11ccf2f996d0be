#!/usr/bin/python3
"""test_queue_pool.py: queue files are reused (queue/queue_pool.c).
A fresh queue starts with empty files in pool/; relay-send moves each
small delivered message there, and relay-queue writes later messages into
those same inodes, cut to their new length (a short message written over
a long one arrives exactly, nothing of the old one after it; a long one
over a short one, which needs no cut, too).  What is
planted in pool/ and is not relay-queue's own plain file (a symlink, a
second link of a queued message, a file of another owner) is dropped,
never written through, and pool/ is kept at 1024 names at most.  A pool
file left without the queue's group (relay-queue killed between making
it and its fchown) gets the group before a message goes into it, so
relay-send can read that message."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     is_root, queue_inject, wait_until)

POOL_START = 256   # queue_pool.c
POOL_KEEP = 1024


def inject(s, msg, rcpt):
    rep = queue_inject(s, msg, b'Iip=127.0.0.1\0Ihelo=pool.test\0'
                       b'Fa@example.com\0T' + rcpt.encode() + b'\0\0')
    return rep.get('id') if rep and rep.get('status') == '0' else None


def pool_inodes(inst):
    d = inst.path('queue/pool')
    out = {}
    for name in os.listdir(d):
        try:
            out[name] = os.lstat(os.path.join(d, name)).st_ino
        except FileNotFoundError:
            pass
    return out


def plant(inst, name, make):
    """Make a file beside pool/ and rename it in, as relay-send would."""
    tmp = inst.path(name)
    make(tmp)
    os.rename(tmp, inst.path('queue/pool/' + name))


def bodies(sink):
    return sorted(m.data.split(b'\r\n\r\n', 1)[1] for m in sink.messages)


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        check('a fresh queue starts with %d pool files' % POOL_START,
              wait_until(lambda: len(pool_inodes(inst)) == POOL_START, 20),
              len(pool_inodes(inst)))
        start = pool_inodes(inst)
        check('they are empty', all(
            os.path.getsize(inst.path('queue/pool/' + n)) == 0
            for n in start), '')
        # hazards, after the start files in the pool's order
        victim = inst.path('victim')
        with open(victim, 'wb') as f:
            f.write(b'not a queue file\n')
        plant(inst, 'AAAA0000000000001', lambda p: os.symlink(victim, p))
        plant(inst, 'AAAA0000000000002', lambda p: os.link(victim, p))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(inst.path('run/queue.sock'))
        long_body = (b'x' * 78 + b'\r\n') * 100
        ids = [inject(s, b'Subject: long %d\r\n\r\n' % i + long_body,
                      'r%d@example.org' % i) for i in range(POOL_START)]
        check('%d long messages queued' % POOL_START, all(ids), ids.count(None))
        check('and delivered', sink.wait_for(POOL_START, 120),
              inst.log_tail())
        # written over the empty start files (longer than what they held:
        # no cut), each arrives exactly
        got = [b for b in bodies(sink) if b.startswith(b'x')]
        check('each long message arrives exactly',
              len(got) == POOL_START and all(b == long_body for b in got),
              '%d, sizes %r' % (len(got), sorted(set(map(len, got)))[:5]))
        check('they were written into the start files', wait_until(
            lambda: set(pool_inodes(inst).get(i) for i in ids)
            == set(start.values()), 20), '')
        check('each delivered message went back to pool/',
              all(i in pool_inodes(inst) for i in ids),
              '%d of %d; new/ has %d' % (
                  sum(i in pool_inodes(inst) for i in ids), len(ids),
                  len(os.listdir(inst.path('queue/new')))))
        long_inodes = set(pool_inodes(inst).get(i) for i in ids)
        # a name is used only after an fsync of new/ that began after it
        # arrived: with no injection meanwhile, the daemon's once-a-second
        # tick makes that fsync
        time.sleep(2.5)
        short = [inject(s, b'Subject: short %d\r\n\r\nshort %d\r\n' % (i, i),
                        's%d@example.org' % i) for i in range(20)]
        check('20 short messages queued', all(short), short)
        check('and delivered', sink.wait_for(POOL_START + 20, 60),
              inst.log_tail())
        got = [b for b in bodies(sink) if b.startswith(b'short')]
        check('each arrives exactly, nothing of the long one after it',
              got == sorted(b'short %d\r\n' % i for i in range(20)),
              repr(got[:3]))
        wait_until(lambda: all(i in pool_inodes(inst) for i in short), 20)
        reused = [pool_inodes(inst).get(i) in long_inodes for i in short]
        check('they were written into the long messages\' inodes',
              all(reused), reused)
        with open(victim, 'rb') as f:
            check('a symlinked or linked file is never written through',
                  f.read() == b'not a queue file\n'
                  and os.stat(victim).st_nlink == 1, repr(os.stat(victim)))
        check('and both names were dropped',
              not any(n.startswith('AAAA') for n in os.listdir(
                  inst.path('queue/pool'))), '')
        # a flood of names: the pool keeps POOL_KEEP
        for i in range(POOL_KEEP + 100):
            plant(inst, 'B%016X' % i, lambda p: open(p, 'wb').close())
        check('pool/ is kept at %d names' % POOL_KEEP, wait_until(
            lambda: len(os.listdir(inst.path('queue/pool'))) <= POOL_KEEP,
            20), len(os.listdir(inst.path('queue/pool'))))
        check('nothing left in tmp/', os.listdir(inst.path('queue/tmp')) == [],
              os.listdir(inst.path('queue/tmp')))
        s.close()
    if is_root():
        wrong_group()
    finish()


def wrong_group():
    """Pool files with relay-queue's own group, as a kill between
    pool_fill's open and its fchown leaves them: the messages written into
    them are delivered, none is held as unreadable."""
    import pwd
    with Sink() as sink, Instance(sink=sink) as inst:
        wait_until(lambda: len(pool_inodes(inst)) == POOL_START, 20)
        inst.stop()
        gid = pwd.getpwnam('relayqueue').pw_gid
        d = inst.path('queue/pool')
        for n in os.listdir(d):
            os.chown(os.path.join(d, n), -1, gid)
        inst.start()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(inst.path('run/queue.sock'))
        ids = [inject(s, b'Subject: g %d\r\n\r\ng %d\r\n' % (i, i),
                      'g%d@example.org' % i) for i in range(10)]
        s.close()
        check('10 messages queued into left-over pool files', all(ids), ids)
        check('all 10 delivered', sink.wait_for(10, 60), inst.log_tail())
        check('none held as unreadable', os.listdir(inst.path('queue/hold'))
              == [], inst.log_tail())


if __name__ == '__main__':
    main()
