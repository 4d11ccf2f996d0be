#!/usr/bin/python3
"""test_queue_hold_final.py: a message held just as relay-send finishes
it keeps its results (queue/QUEUE.md, state 7): relay-send keeps the
state file of a message the operator moved out of new/ into hold/; on
release nobody gets it twice and the sender gets one bounce.  One
deleted while its delivery is under way leaves no state file behind.

Made deterministic by stopping relay-queue (SIGSTOP): relay-send, whose
last result was a bounce, then waits in the injection of the
notification while the operator holds the message.  Then a bounded loop
of holds, releases and deletes under four clients: no (message,
recipient) that got a 250 and was not deleted is lost, none is delivered
twice, and no state file is left."""
import collections
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, smtp_session  # noqa: E402
import sink as sinkmod  # noqa: E402
from test_delivery import inject, wait  # noqa: E402

# poll, ppoll, epoll_wait, epoll_pwait, select, pselect6 (x86_64, aarch64
# numbers): relay-send's idle waits; any other blocking call is the
# injection into the stopped relay-queue, and so is a poll or ppoll of
# one descriptor (its loop polls at least two: send_inject.c waits on
# the message pipe or the socket alone, up to inject_timeout)
IDLE_SYSCALLS = {'7', '271', '232', '281', '23', '270', '73', '72', '22'}
POLL_SYSCALLS = {'7', '271', '73'}
LOOP_SECONDS = 12


def blocked_in_injection(pid):
    """pid sleeps in a system call that is not its loop's idle wait."""
    try:
        with open('/proc/%d/syscall' % pid) as f:
            call = f.read().split()
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state != 'S' or len(call) < 3 or not call[0].isdigit():
        return False
    return call[0] not in IDLE_SYSCALLS or (
        call[0] in POLL_SYSCALLS and int(call[2], 16) == 1)


def copies(sink, rcpt, subject):
    return len([m for m in sink.messages
                if rcpt in m.rcpts and subject in m.data])


class SlowSink(Sink):
    handler_class = sinkmod.SlowHandler


def held_while_bouncing():
    with SlowSink(codes={'bad@example.org': 550}) as sink, \
            Instance(sink=sink) as inst:
        sink.busy = sink.peak = 0
        sink.delay = 2  # relay-queue is stopped meanwhile
        with smtp_session(inst.port) as c:
            c.ehlo()
            c.mail('a@example.com')
            c.rcpt('good@example.org')
            c.rcpt('bad@example.org')
            code, resp = c.data(b'Subject: held\r\n\r\nbody\r\n')
        check('held: queued', code == 250, resp)
        qid = re.search(r'queued as (\w+)', resp.decode()).group(1)
        # in the server's DATA: named in new/, its bounce not yet made
        check('held: being delivered', wait(lambda: sink.busy == 1, 20))
        qpid = inst.status()['relay-queue'][0]
        spid = inst.status()['relay-send'][0]
        os.kill(qpid, signal.SIGSTOP)
        try:
            check('held: one delivered, one bounced',
                  inst.wait_log(qid + r': to=<bad@example.org>.*'
                                r'status=bounced', 30), inst.log_tail())
            check('held: relay-send waits in the notification\'s injection',
                  wait(lambda: blocked_in_injection(spid), 20))
            r = inst.relayctl('queue', 'hold', qid)
            check('held: relayctl queue hold', r.returncode == 0,
                  r.stdout + r.stderr)
        finally:
            os.kill(qpid, signal.SIGCONT)
        state = inst.path('queue/state/' + qid)
        check('held: the notification is queued',
              inst.wait_log(qid + r': sender non-delivery notification', 20),
              inst.log_tail())
        time.sleep(2)  # relay-send's next pass would remove the state
        try:
            with open(state) as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        check('held: state/<id> kept with its results and the bounce',
              any(ln.startswith('0 D ') for ln in lines) and
              any(ln.startswith('1 B ') for ln in lines) and
              any(ln.startswith('X ') for ln in lines),
              repr(os.listdir(inst.path('queue/state'))))
        check('held: in hold/', os.listdir(inst.path('queue/hold')) == [qid])
        r = inst.relayctl('queue', 'release', qid)
        check('held: relayctl queue release', r.returncode == 0,
              r.stdout + r.stderr)
        check('held: released, then done',
              inst.wait_queue_empty(20) and
              wait(lambda: not os.path.exists(state), 10), inst.log_tail())
        time.sleep(2)  # what a second round would deliver
        check('held: delivered once', copies(sink, 'good@example.org',
                                             b'Subject: held') == 1)
        check('held: one bounce',
              len([m for m in sink.messages
                   if 'a@example.com' in m.rcpts]) == 1)


def deleted_in_flight():
    """Deleted while its delivery is under way: the result comes after
    relayctl removed the state file, and makes one again; relay-send
    removes that one too as the message leaves its memory."""
    with SlowSink() as sink, Instance(sink=sink) as inst:
        sink.busy = sink.peak = 0
        sink.delay = 3
        rc, err = inject(inst, 'a@example.com', ['one@example.org'],
                         b'Subject: deleted\r\n\r\nx\r\n')
        check('deleted: queued', rc == 0, err)
        check('deleted: in the server\'s DATA',
              wait(lambda: sink.busy == 1, 20), inst.log_tail())
        r = inst.relayctl('queue', 'delete', '--all')
        check('deleted: relayctl queue delete', r.returncode == 0,
              r.stdout + r.stderr)
        check('deleted: the result comes',
              inst.wait_log(r'relay-send.*to=<one@example.org>.*status=sent',
                            20), inst.log_tail())
        check('deleted: no state file left',
              wait(lambda: not os.listdir(inst.path('queue/state')), 5),
              repr(os.listdir(inst.path('queue/state'))))


def hold_release_loop():
    stop = threading.Event()
    acked, deleted = {}, set()
    with Sink() as sink, \
            Instance(sink=sink, conf_overrides={'retry_min': 1}) as inst:
        def client(k):
            with smtp_session(inst.port, timeout=30) as c:
                c.ehlo()
                for n in range(100000):
                    if stop.is_set():
                        return
                    tok = 'tok-%d-%d' % (k, n)
                    rcpts = ['b%d@example.org' % (n % 3),
                             'e%d@example.net' % (n % 2)]
                    c.mail('a@example.com')
                    rcpts = [r for r in rcpts if c.rcpt(r)[0] == 250]
                    if not rcpts:
                        c.rset()
                        continue
                    code, resp = c.data(('Subject: %s\r\n\r\n%s\r\n' %
                                         (tok, tok)).encode())
                    qid = re.search(r'queued as (\w+)', resp.decode())
                    if code == 250 and qid:
                        acked[tok] = (qid.group(1), rcpts)

        def holder():
            while not stop.is_set():
                inst.relayctl('queue', 'hold', '--to', 'b1@*')
                inst.relayctl('queue', 'release', '--all')
                r = inst.relayctl('queue', 'delete', '--to', 'b2@*')
                deleted.update(ln.split(':')[0] for ln in r.stdout.splitlines()
                               if ln.endswith(': deleted'))

        threads = [threading.Thread(target=client, args=(k,))
                   for k in range(4)] + [threading.Thread(target=holder)]
        for t in threads:
            t.start()
        time.sleep(LOOP_SECONDS)
        stop.set()
        for t in threads:
            t.join(60)
        inst.relayctl('queue', 'release', '--all')
        check('loop: queue drained', inst.wait_queue_empty(60) and
              inst.queue_count('hold') == 0, inst.log_tail())
        time.sleep(2)
        got = collections.Counter()
        for m in sink.messages:
            tok = re.search(rb'Subject: (tok-[\d-]+)', m.data)
            for r in m.rcpts if tok else ():
                got[(tok.group(1).decode(), r)] += 1
        missing = [(t, r) for t, (qid, rcpts) in acked.items()
                   for r in rcpts if got[(t, r)] == 0 and qid not in deleted]
        twice = [k for k, v in got.items() if v > 1]
        check('loop: messages went through holds and deletes',
              len(acked) > 100 and deleted, (len(acked), len(deleted)))
        check('loop: nothing lost', not missing, missing[:5])
        check('loop: nothing delivered twice', not twice,
              '%d of %d: %r' % (len(twice), len(got), twice[:5]))
        check('loop: no state file left',
              not os.listdir(inst.path('queue/state')),
              repr(os.listdir(inst.path('queue/state'))[:5]))


held_while_bouncing()
deleted_in_flight()
hold_release_loop()
finish()
