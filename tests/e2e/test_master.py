#!/usr/bin/python3
"""test_master.py: relay-master and relayctl themselves.
  - relayctl start/status/stop on a prepared instance: start waits for
    run/ready, status lists every daemon (exit 0), stop leaves no process
    and no pid file, status then exits 3;
  - with the SMTP port taken, relayctl start -w fails with the log's tail,
    relay-listen is restarted at most once a second, then slowly;
  - another program listening on the SMTP address: not ready (111);
  - a daemon killed with SIGKILL is restarted (new pid, restarts=1 in
    run/status) and the relay still delivers; run/ready is removed while
    relay-listen is down and written again once it listens;
  - every log line carries the timestamp prefix; SIGHUP reopens a log that
    logrotate moved away;
  - relayctl log finds a message by --id, --from, --ip, and --since in the
    future finds nothing (exit 1);
  - SIGTERM: relay-master exits 0 and takes every daemon with it."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, alive, check, finish,  # noqa: E402
                     smtp_session, wait_until)

STAMP = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} \S+\[\d+\]: '
                   r'(info|warning|fatal): ')
# The test build's ASan says once per process that it does not fully
# support swapcontext (relay-smtpd serving many sessions: lib/coro.c,
# which tells ASan of every stack switch); not a line of ours.
ASAN_SWAPCONTEXT = "WARNING: ASan doesn't fully support makecontext/swapcontext"
DAEMONS = ('relay-policy', 'relay-queue', 'relay-remote', 'relay-send',
           'relay-listen')


def test_relayctl_start_stop():
    inst = Instance().prepare()
    try:
        r = inst.relayctl('start')
        check('relayctl start: exit 0 once ready', r.returncode == 0 and
              os.path.exists(inst.path('run/ready')), r.stdout + r.stderr)
        pids = {n: p for n, (p, _) in inst.status().items()}
        r = inst.relayctl('status')
        check('relayctl status: exit 0, every daemon running',
              r.returncode == 0 and all(
                  re.search(r'^%s\s+running' % d, r.stdout, re.M)
                  for d in DAEMONS), r.stdout + r.stderr)
        r = inst.relayctl('start')
        check('relayctl start again: "already running", exit 0',
              r.returncode == 0 and 'already running' in r.stdout, r.stdout)
        r = inst.relayctl('stop')
        check('relayctl stop: exit 0', r.returncode == 0, r.stdout + r.stderr)
        left = [n for n, p in pids.items() if p and alive(p)]
        check('relayctl stop: no daemon left', not left, left)
        check('relayctl stop: pid file removed',
              not os.path.exists(inst.path('run/master.pid')))
        r = inst.relayctl('status')
        check('relayctl status when stopped: exit 3', r.returncode == 3,
              r.returncode)
    finally:
        for p in (inst.status().get('relay-master', (0, 0))[0],):
            if p and alive(p):
                os.kill(p, signal.SIGKILL)
        inst.remove()


def test_port_taken():
    """relay-listen cannot bind: relayctl start -w reports it with the
    log's tail; relay-master restarts the listener at most once a second
    and says loudly when it keeps dying; relayctl stop still ends it."""
    inst = Instance().prepare()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    master = 0
    try:
        blocker.bind(('127.0.0.1', inst.port))
        blocker.listen(1)
        t0 = time.time()
        r = inst.relayctl('start', '-w', '3')
        check('port taken: relayctl start -w 3 fails (111)',
              r.returncode == 111, r.returncode)
        check('port taken: start prints the log tail naming relay-listen',
              'last lines of' in r.stderr and 'relay-listen' in r.stderr,
              r.stderr[-600:])
        master = inst.status().get('relay-master', (0, 0))[0]
        m = inst.wait_log(r'relay-listen died 10 times in a row', 30)
        elapsed = time.time() - t0
        check('port taken: "died 10 times" is logged as fatal', m and
              re.search(r'relay-master\[\d+\]: fatal: relay-listen died',
                        inst.log()), inst.log_tail(5))
        starts = len(re.findall(r'info: started relay-listen ', inst.log()))
        check('port taken: restarted at most once a second '
              '(%d starts in %.1fs)' % (starts, elapsed),
              10 <= starts <= elapsed + 2, starts)
        time.sleep(3)
        later = len(re.findall(r'info: started relay-listen ', inst.log()))
        check('port taken: then retried slowly (none in the next 3 s)',
              later == starts, (starts, later))
        r = inst.relayctl('stop')
        check('port taken: relayctl stop ends it', r.returncode == 0 and
              not (master and alive(master)), r.stdout + r.stderr)
    finally:
        blocker.close()
        if master and alive(master):
            os.kill(master, signal.SIGKILL)
        inst.remove()


def test_port_held_by_other():
    """Another program already listens on the one SMTP address (an MTA on
    127.0.0.1:25): the LISTEN socket is not relay-listen's, so the relay
    is not ready: relayctl start -w exits 111, status says ready no."""
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(('127.0.0.1', 0))
    blocker.listen(8)
    listen = '127.0.0.1:%d' % blocker.getsockname()[1]
    inst = Instance(conf_overrides={'listen': listen}).prepare()
    master = 0
    try:
        r = inst.relayctl('start', '-w', '3')
        check('held by another program: relayctl start -w 3 exits 111',
              r.returncode == 111, r.stdout + r.stderr[-300:])
        master = inst.status().get('relay-master', (0, 0))[0]
        check('held by another program: no run/ready',
              not os.path.exists(inst.path('run/ready')))
        r = inst.relayctl('status')
        check('held by another program: status says ready no',
              re.search(r'^ready\s+no$', r.stdout, re.M), r.stdout)
        inst.relayctl('stop')
    finally:
        blocker.close()
        if master and alive(master):
            os.kill(master, signal.SIGKILL)
        inst.remove()


def test_restart(inst, sink):
    for name in ('relay-send', 'relay-policy'):
        old = inst.status()[name][0]
        os.kill(old, signal.SIGKILL)
        ok = wait_until(lambda: inst.status().get(name, (0, 0))[0]
                        not in (0, old), 10)
        new = inst.status().get(name, (0, 0))[0]
        check('%s killed: restarted with a new pid' % name, ok and alive(new),
              (old, new))
        with open(inst.path('run/status')) as f:
            line = [x for x in f if x.startswith(name + ' ')]
        check('%s killed: run/status counts 1 restart' % name,
              line and line[0].split()[4] == '1', line)
    # ready again after those restarts, so that its removal can be seen
    wait_until(lambda: os.path.exists(inst.path('run/ready')), 15)
    old = inst.status()['relay-listen'][0]
    os.kill(old, signal.SIGKILL)
    check('relay-listen killed: run/ready removed meanwhile',
          inst.wait_log(r'relay-listen pid=%d killed by signal 9\n'
                        r'(.*\n)*?.*: warning: not ready: ' % old, 10),
          inst.log_tail())
    check('relay-listen killed: ready again once the new one listens',
          wait_until(lambda: inst.status()['relay-listen'][0] not in
                     (0, old) and os.path.exists(inst.path('run/ready')),
                     15), inst.log_tail())
    time.sleep(0.5)  # the new policy daemon creates its socket
    with smtp_session(inst.port) as c:
        refused = c.sendmail('after@example.com', ['restart@example.org'],
                             b'Subject: after restart\r\n\r\nstill works\r\n')
    check('after the restarts: accepted', refused == {})
    check('after the restarts: delivered', sink.wait_for(1, 60),
          inst.log_tail())


def test_log_format_and_hup(inst):
    lines = [x for x in inst.log().splitlines() if x]
    bad = [x for x in lines
           if not STAMP.match(x) and ASAN_SWAPCONTEXT not in x]
    check('log: every line "TIMESTAMP prog[pid]: level: "', lines and not bad,
          bad[:3])
    log = inst.path('log/relay.log')
    os.rename(log, log + '.1')
    master = inst.proc.pid
    os.kill(master, signal.SIGHUP)
    ok = wait_until(lambda: os.path.exists(log) and
                    'log reopened' in open(log).read(), 10)
    check('SIGHUP: a new log file is opened', ok)


def test_log_search(inst):
    with smtp_session(inst.port) as c:
        c.sendmail('finder@example.com', ['found@example.org'],
                   b'Subject: find me\r\n\r\nx\r\n')
    m = inst.wait_log(r'\]: info: ([A-Za-z0-9._-]+): from=<finder@example\.com>',
                      30)
    check('log search: the queue logged the message', m)
    if not m:
        return
    qid = m.group(1)
    inst.wait_log(r'%s: to=<found@example\.org>.*status=sent' % qid, 30)
    r = inst.relayctl('log', '--id', qid)
    check('relayctl log --id: injection and delivery lines',
          r.returncode == 0 and 'from=<finder@example.com>' in r.stdout and
          'to=<found@example.org>' in r.stdout and
          all(qid in x for x in r.stdout.splitlines()), r.stdout)
    r = inst.relayctl('log', '--from', 'finder@example.com')
    check('relayctl log --from: the delivery line too',
          r.returncode == 0 and 'to=<found@example.org>' in r.stdout, r.stdout)
    r = inst.relayctl('log', '--from', 'example.com', '--to', 'found@example.org')
    check('relayctl log --from DOMAIN --to ADDR', r.returncode == 0 and
          qid in r.stdout, r.stdout)
    r = inst.relayctl('log', '--ip', '127.0.0.1', 'status=sent')
    check('relayctl log --ip with a pattern', r.returncode == 0 and
          qid in r.stdout, r.stdout[-500:])
    r = inst.relayctl('log', '--since', '2999-01-01')
    check('relayctl log --since in the future: nothing, exit 1',
          r.returncode == 1 and r.stdout == '', r.stdout[:200])
    r = inst.relayctl('log', '--until', '2000-01-01', '--id', qid)
    check('relayctl log --id --until in the past: nothing, exit 1',
          r.returncode == 1 and r.stdout == '', r.stdout[:200])
    today = time.strftime('%Y-%m-%d')
    r = inst.relayctl('log', '--since', today, '--until', today, '--id', qid)
    check('relayctl log --since/--until today (whole day) --id: found',
          r.returncode == 0 and qid in r.stdout, r.stdout[:200])
    r = inst.relayctl('log', '--bogus', 'x')
    check('relayctl log --bogus: usage, exit 100', r.returncode == 100)
    for bad in ('%s 6:36' % today, '%s 06:35:99' % today, '2026-02-30'):
        r = inst.relayctl('log', '--since', bad)
        check('relayctl log --since %r: usage, exit 100' % bad,
              r.returncode == 100, r.returncode)


def test_sigterm(inst):
    pids = [p for n, (p, _) in inst.status().items() if n != 'relay-master']
    master = inst.proc.pid
    inst.proc.send_signal(signal.SIGTERM)
    try:
        rc = inst.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        rc = None
    check('SIGTERM: relay-master exits 0', rc == 0, rc)
    check('SIGTERM: every daemon is gone',
          wait_until(lambda: not any(alive(p) for p in pids), 5), pids)
    check('SIGTERM: run/master.pid and run/ready removed',
          not os.path.exists(inst.path('run/master.pid')) and
          not os.path.exists(inst.path('run/ready')))
    check('SIGTERM: "stopped" is the last line',
          inst.log().rstrip().endswith('relay-master[%d]: info: stopped' %
                                       master), inst.log_tail(3))


def main():
    test_relayctl_start_stop()
    test_port_taken()
    test_port_held_by_other()
    with Sink() as sink, Instance(sink=sink) as inst:
        test_restart(inst, sink)
        test_log_format_and_hup(inst)
        test_log_search(inst)
        test_sigterm(inst)
    finish()


if __name__ == '__main__':
    main()
