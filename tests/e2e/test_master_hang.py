#!/usr/bin/python3
"""test_master_hang.py: relay-master finds a daemon that hangs instead of
dying (its heartbeat on the readiness pipe, lib/notify.h; relay.conf
daemon_hang_timeout).
  - idle for twice the limit (no traffic at all): no daemon is killed;
  - each mail-path daemon stopped with SIGSTOP in turn: relay-master logs
    a fatal line naming it and how long it was silent, the stopped pid is
    gone, run/ready is removed meanwhile, a new one starts, the relay is
    ready again and a message sent with swaks is relayed (250, then at the
    sink);
  - relay-metrics (off the mail path, run with metrics_listen): stopped,
    it is killed and restarted the same way and its page answers again,
    while run/ready stays (the relay does not wait for it);
  - daemon_hang_timeout = 0: a stopped daemon stays (same pid) however
    long it is silent."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, alive, check, finish,  # noqa: E402
                     free_port, no_sanitizer_report, swaks, wait_until)
from certs import wait_tag  # noqa: E402

LIMIT = 4  # seconds: daemon_hang_timeout in these tests
DAEMONS = ('relay-policy', 'relay-queue', 'relay-remote', 'relay-send',
           'relay-listen')
HANG_LINE = r'relay-master\[\d+\]: fatal: %s pid=%d hangs: silent for (\d+) s'


def pids_of(inst):
    return {n: inst.status().get(n, (0, 0))[0] for n in DAEMONS}


def relayed(inst, sink, tag):
    """swaks gets 250 for a message, and the sink receives it."""
    try:
        r = swaks('--server', '127.0.0.1', '--port', inst.port,
                  '--from', 'hang@example.com', '--to', 'someone@example.org',
                  '--header', 'Message-ID: <%s@hang.test>' % tag)
    except subprocess.TimeoutExpired:
        return False, 'swaks: no answer within 60 s'
    return (r.returncode == 0 and '<-  250 ' in r.stdout and
            wait_tag(sink, tag, 60) is not None), r.stdout[-600:]


def pipe_of(pid, fd):
    try:
        link = os.readlink('/proc/%d/fd/%d' % (pid, fd))
    except OSError:
        return None
    return link if link.startswith('pipe:') else None


def test_children_without_pipe(inst, sink):
    """What the daemons fork (relay-smtpd workers, relay-remote workers)
    holds none of their readiness pipes (relay-master holds the read
    ends): it could beat for a stuck main loop."""
    ok, out = relayed(inst, sink, 'children')
    check('a message relayed (a relay-remote worker ran)', ok, out)
    daemons = set(pids_of(inst).values())
    pipes = {pipe_of(p, 4) for p in daemons} - {None}
    check('every daemon holds its readiness pipe on fd 4',
          len(pipes) == len(DAEMONS), pipes)
    held = []
    for pid in set(inst.pids()) - daemons - {inst.proc.pid}:
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        held += [(pid, fd) for fd in fds if pipe_of(pid, int(fd)) in pipes]
    check('no process a daemon forked holds a readiness pipe', not held,
          held)


def test_idle_not_killed(inst):
    before = pids_of(inst)
    time.sleep(2 * LIMIT + 1)
    check('idle for %d s (limit %d s): no daemon killed' % (2 * LIMIT + 1,
                                                            LIMIT),
          pids_of(inst) == before and 'hangs: silent' not in inst.log(),
          (before, pids_of(inst), inst.log_tail(10)))


def test_stopped(inst, sink, name):
    old = inst.status()[name][0]
    mark = len(inst.log())
    os.kill(old, signal.SIGSTOP)
    try:
        m = inst.wait_log(HANG_LINE % (name, old), LIMIT + 15)
        check('%s stopped: relay-master logs that it hangs' % name, m,
              inst.log_tail(10))
        if m:
            check('%s stopped: silent for at least the limit' % name,
                  int(m.group(1)) >= LIMIT, m.group(0))
        check('%s stopped: the stopped pid %d is gone' % (name, old),
              wait_until(lambda: not alive(old), 10), old)
        check('%s stopped: run/ready removed meanwhile' % name,
              'warning: not ready' in inst.log()[mark:], inst.log_tail(10))
        check('%s stopped: not also said to be still starting' % name,
              '%s pid=%d has not said it serves' % (name, old)
              not in inst.log(), inst.log_tail(10))
        ok = wait_until(lambda: inst.status().get(name, (0, 0))[0]
                        not in (0, old) and
                        os.path.exists(inst.path('run/ready')), 20)
        check('%s stopped: a new one runs, the relay is ready again' % name,
              ok, inst.log_tail(10))
        ok, out = relayed(inst, sink, 'after-%s' % name)
        check('%s stopped: a message is then relayed (250)' % name, ok, out)
    finally:
        if alive(old):
            os.kill(old, signal.SIGKILL)


def scraped(mport):
    """relay-metrics answers a scrape of /metrics with 200."""
    try:
        with socket.create_connection(('127.0.0.1', mport), 5) as s:
            s.settimeout(5)
            s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n'
                      b'Connection: close\r\n\r\n')
            return s.recv(64).startswith(b'HTTP/1.1 200')
    except OSError:
        return False


def test_metrics_stopped():
    """relay-metrics is supervised like the others: a stopped one is
    found, killed and restarted; the relay stays ready meanwhile."""
    mport = free_port('127.0.0.1')
    with Instance(conf_overrides={
            'daemon_hang_timeout': LIMIT,
            'metrics_listen': '127.0.0.1:%d' % mport}) as inst:
        check('relay-metrics answers', wait_until(lambda: scraped(mport),
                                                  20))
        old = inst.status()['relay-metrics'][0]
        os.kill(old, signal.SIGSTOP)
        try:
            m = inst.wait_log(HANG_LINE % ('relay-metrics', old), LIMIT + 15)
            check('relay-metrics stopped: relay-master logs that it hangs',
                  m, inst.log_tail(10))
            check('relay-metrics stopped: the stopped pid %d is gone' % old,
                  wait_until(lambda: not alive(old), 10), old)
            check('relay-metrics stopped: a new one answers',
                  wait_until(lambda: inst.status().get(
                      'relay-metrics', (0, 0))[0] not in (0, old) and
                      scraped(mport), 20), inst.log_tail(10))
            check('relay-metrics stopped: the relay stayed ready',
                  os.path.exists(inst.path('run/ready')) and
                  'not ready' not in inst.log(), inst.log_tail(10))
        finally:
            if alive(old):
                os.kill(old, signal.SIGKILL)
        no_sanitizer_report(inst)


def test_off():
    with Instance(conf_overrides={'daemon_hang_timeout': 0}) as inst:
        pids = {n: inst.status()[n][0] for n in ('relay-send', 'relay-policy')}
        for pid in pids.values():
            os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(LIMIT + 4)
            check('daemon_hang_timeout = 0: stopped daemons stay',
                  all(alive(p) and inst.status()[n][0] == p
                      for n, p in pids.items()) and
                  'hangs: silent' not in inst.log(),
                  (pids, inst.status(), inst.log_tail(10)))
        finally:
            for pid in pids.values():
                os.kill(pid, signal.SIGCONT)


def main():
    with Sink() as sink, Instance(sink=sink, conf_overrides={
            'daemon_hang_timeout': LIMIT}) as inst:
        test_children_without_pipe(inst, sink)
        test_idle_not_killed(inst)
        for name in DAEMONS:
            test_stopped(inst, sink, name)
        no_sanitizer_report(inst)
    test_metrics_stopped()
    test_off()
    finish()


if __name__ == '__main__':
    main()
