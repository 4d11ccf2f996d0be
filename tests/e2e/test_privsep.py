#!/usr/bin/python3
"""test_privsep.py: what a taken-over daemon holds beyond its own uid.

Descriptors: a file that relay-master's caller (the shell that runs
`relayctl start`, systemd, make run) left open without close-on-exec
reaches no process of the instance: not relay-master, no daemon, no
relay-smtpd worker (else a worker could read it, or take it from
another with pidfd_getfd).  Runs as any user.

Memory: no daemon's memory can be opened (/proc/PID/mem) by its own
uid: not relay-listen's nor a relay-smtpd worker's by user_smtpd, so
the workers of one address group cannot read those of another (nor the
sessions in them), and no other daemon's by its uid; nor, racing it,
the memory of a worker relay-listen starts in place of one it killed
(relay-smtpd is execute-only, so not dumpable from its exec on; with a
readable relay-smtpd relay-listen warns).  The test build's relay-smtpd
is readable (Makefile, EXEC_MODE), so those two run on a copy with the
mode under test.  Needs root.

No new privileges: every process of the instance but relay-master has
NoNewPrivs set, so a setuid program a taken-over daemon runs gains
nothing.  Needs root (an unprivileged run drops nothing)."""
import errno
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (BIN, Instance, Raw, as_user, check,  # noqa: E402
                     finish, free_port, is_root, skip, wait_until)
from test_smtpd_pool import session_pid  # noqa: E402
from test_smtpd_secrets import memory_has  # noqa: E402

SECRET = b'payroll-scan-7731@example.com'  # what a session of .2 holds


def fds_to(pids, path):
    """'pid:fd' of each descriptor of pids that points at path."""
    out = []
    for pid in pids:
        try:
            names = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        for n in names:
            try:
                if os.readlink('/proc/%d/fd/%s' % (pid, n)) == path:
                    out.append('%d:%s' % (pid, n))
            except OSError:
                pass
    return out


def with_workers(inst):
    """The instance's pids once relay-smtpd workers run among them."""
    wait_until(lambda: inst.pids(('relay-smtpd',)), 30)
    return inst.pids()


def secret_file():
    """A file (path, fd) opened the way a careless caller leaves one."""
    fd, path = tempfile.mkstemp(prefix='relaybox-privsep-')
    os.write(fd, b'not for the daemons\n')
    return path, fd


def test_master_started_directly():
    path, fd = secret_file()
    try:
        with Instance(pass_fds=(fd,)) as inst:
            pids = with_workers(inst)
            names = sorted(set(os.path.basename(
                open('/proc/%d/cmdline' % p, 'rb').read().split(b'\0')[0]
                .decode()) for p in pids))
            leaks = fds_to(pids, path)
            check('an inherited descriptor reaches no process (%s)'
                  % ' '.join(names), not leaks and len(pids) >= 6, leaks)
    finally:
        os.close(fd)
        os.unlink(path)


def test_relayctl_start():
    path, fd = secret_file()
    inst = Instance().prepare()
    try:
        r = subprocess.run([os.path.join(BIN, 'relayctl'), '-d', inst.dir,
                            'start'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60,
                           pass_fds=(fd,))
        check('relayctl start with a descriptor open starts the relay',
              r.returncode == 0, r.stdout)
        pids = with_workers(inst)
        leaks = fds_to(pids, path)
        check('relayctl start: the caller\'s descriptor reaches no process',
              not leaks and len(pids) >= 6, leaks)
    finally:
        inst.relayctl('stop')
        inst.remove()
        os.close(fd)
        os.unlink(path)


def status_of(pid):
    """/proc/PID/status as {key: value}."""
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.strip()
    return out


def open_mem(pid):
    """'opened', or the errno's name: what opening pid's memory gives."""
    try:
        with open('/proc/%d/mem' % pid, 'rb', 0):
            return 'opened'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def daemons(inst):
    """(pid, program, uid) of every process of the instance but
    relay-master, once two workers (one per address group) or more run."""
    wait_until(lambda: len(inst.pids(('relay-smtpd',))) >= 2, 30)
    out = []
    for pid in inst.pids():
        try:
            st = status_of(pid)
        except OSError:
            continue
        if st['Name'] != 'relay-master':
            out.append((pid, st['Name'], int(st['Uid'].split()[0])))
    return out


def other_group_session(inst, port):
    """A session to 127.0.0.2 holds SECRET: its worker's memory has it
    (as root), yet user_smtpd (a worker of 127.0.0.1) cannot open it."""
    r = Raw(port, host='127.0.0.2')
    try:
        r.reply()
        r.cmd(b'EHLO privsep.test\r\n')
        code = r.cmd(b'MAIL FROM:<' + SECRET + b'>\r\n')[0]
        pid = session_pid(inst, r)
        held = pid and memory_has(pid, {'secret': SECRET})
        got = as_user('relaysmtpd', lambda: open_mem(pid)) if pid else None
        check('a worker of 127.0.0.2 holds its session\'s sender',
              code == 250 and held == {'secret'}, (code, pid, held))
        check('user_smtpd cannot open that worker\'s memory',
              got in ('EACCES', 'EPERM'), got)
    finally:
        r.close()


def race_new_worker(listen_pid, victim, seconds=3):
    """As a taken-over worker would: kill victim, then try to open the
    memory of the worker relay-listen starts in its place, from its
    exec on.  'opened', the last errno's name, or 'no new worker'."""
    path = '/proc/%d/task/%d/children' % (listen_pid, listen_pid)
    with open(path) as f:
        known = set(f.read().split())
    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + seconds
    new, last = None, None
    while time.time() < deadline and not new:
        with open(path) as f:
            fresh = set(f.read().split()) - known
        new = fresh.pop() if fresh else None
    while new and time.time() < deadline:
        try:
            os.close(os.open('/proc/%s/mem' % new, os.O_RDONLY))
            return 'opened'
        except OSError as e:
            last = e.errno
    return errno.errorcode.get(last, 'no new worker')


class SmtpdMode:
    """harness.BIN swapped for a copy whose relay-smtpd has mode: the
    test build keeps it readable (Makefile, EXEC_MODE), the release build
    and make install make it 0711."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.was = harness.BIN
        self.copy = tempfile.mkdtemp(prefix='relaybox-privsep-bin-')
        os.chmod(self.copy, 0o755)
        for name in os.listdir(self.was):
            shutil.copy2(os.path.join(self.was, name), self.copy)
        os.chmod(os.path.join(self.copy, 'relay-smtpd'), self.mode)
        harness.BIN = self.copy
        return self

    def __exit__(self, *exc):
        harness.BIN = self.was
        shutil.rmtree(self.copy, ignore_errors=True)


def test_start_race():
    with SmtpdMode(0o711), Instance() as inst:
        listen = inst.status()['relay-listen'][0]
        got = []
        for _ in range(3):
            wait_until(lambda: len(inst.pids(('relay-smtpd',))) >= 2, 30)
            victim = min(inst.pids(('relay-smtpd',)))
            got.append(as_user('relaysmtpd',
                               lambda: race_new_worker(listen, victim)))
        check('racing a new worker\'s start, user_smtpd never opens its '
              'memory', 'opened' not in got and
              got.count('no new worker') < len(got), got)
        check('relay-listen does not warn about an execute-only relay-smtpd',
              'is readable by' not in inst.log(), inst.log_tail())


def test_readable_smtpd_warned():
    with SmtpdMode(0o755), Instance() as inst:
        check('relay-listen warns when user_smtpd can read relay-smtpd',
              inst.wait_log(r'relay-listen\[\d+\]: warning: .*relay-smtpd '
                            r'is readable by relaysmtpd', 10),
              inst.log_tail())


def test_memory_and_privs():
    port = free_port('127.0.0.1')
    conf = {'listen': '127.0.0.1:%d 127.0.0.2:%d' % (port, port),
            'metrics_listen': '127.0.0.1:%d' % free_port('127.0.0.1')}
    with Instance(conf_overrides=conf) as inst:
        procs = daemons(inst)
        check('relay-listen, relay-metrics and two workers run',
              {'relay-listen', 'relay-metrics', 'relay-smtpd'} <=
              {name for _, name, _ in procs}, procs)
        for pid, name, uid in procs:
            user = pwd.getpwuid(uid).pw_name
            got = as_user(user, lambda: open_mem(pid))
            check('%s (pid %d): %s cannot open its memory' % (name, pid, user),
                  got in ('EACCES', 'EPERM'), got)
        other_group_session(inst, port)
        for pid, name, uid in procs:
            nnp = status_of(pid).get('NoNewPrivs')
            check('%s (pid %d): NoNewPrivs is set' % (name, pid), nnp == '1',
                  nnp)


def main():
    test_master_started_directly()
    test_relayctl_start()
    if is_root():
        test_memory_and_privs()
        test_start_race()
        test_readable_smtpd_warned()
    else:
        skip('memory and NoNewPrivs', 'not root: every part runs as the '
             'invoking user (CI runs this as root)')
    finish()


if __name__ == '__main__':
    main()
