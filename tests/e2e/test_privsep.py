#!/usr/bin/python3
"""test_privsep.py: what a taken-over daemon holds beyond its own uid.

Descriptors: a file that relay-master's caller (the shell that runs
`relayctl start`, systemd, make run) left open without close-on-exec
reaches no process of the instance: not relay-master, no daemon, no
relay-smtpd worker (else a worker could read it, or take it from
another with pidfd_getfd).  Runs as any user."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Instance, check, finish, wait_until  # noqa: E402


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


def main():
    test_master_started_directly()
    test_relayctl_start()
    finish()


if __name__ == '__main__':
    main()
