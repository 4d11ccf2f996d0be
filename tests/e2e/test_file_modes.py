#!/usr/bin/python3
"""test_file_modes.py: run as root.  What root's tools write for the
daemons is readable by them whatever the operator's umask (makecdb's
rules.cdb, relayctl suspend's suspended), so a change reported done is
in force; and a rules.cdb that relay-queue and relay-send cannot read
stops them, loudly, instead of mail going out unsigned, unarchived or
past its route (no 250 while it lasts, and the relay is never called
ready: run/ready and `relayctl start`); nor does relay-master start
with a relay.conf that relay-smtpd cannot read (every session 421)."""
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, Sink, check, finish, is_root, skip,  # noqa: E402
                     stop_session, swaks)


def with_umask_077(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60,
                          preexec_fn=lambda: os.umask(0o077))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def send(inst):
    return swaks('--server', '127.0.0.1', '--port', inst.port,
                 '--from', 'you@example.com', '--to', 'rcpt@example.org')


def umask_cases():
    with Sink() as sink, Instance(sink=sink) as inst:
        with open(inst.path('relay.rules'), 'a') as f:
            f.write('# changed\n')
        r = with_umask_077([os.path.join(BIN, 'makecdb'), '-d', inst.dir])
        check('makecdb under umask 077', r.returncode == 0, r.stdout)
        check('rules.cdb is 0644 under umask 077',
              mode(inst.path('rules.cdb')) == 0o644,
              oct(mode(inst.path('rules.cdb'))))
        ctl = os.path.join(BIN, 'relayctl')
        r = with_umask_077([ctl, '-d', inst.dir, 'suspend', 'customer',
                            'example'])
        check('relayctl suspend under umask 077', r.returncode == 0, r.stdout)
        check('suspended is 0644 under umask 077',
              mode(inst.path('suspended')) == 0o644,
              oct(mode(inst.path('suspended'))))
        r = send(inst)
        check('the suspension is in force', '550 5.7.1' in r.stdout and
              'suspended' in r.stdout, r.stdout[-600:])
        with_umask_077([ctl, '-d', inst.dir, 'unsuspend', 'customer',
                        'example'])
        r = send(inst)
        check('mail flows once unsuspended', '250 2.0.0' in r.stdout,
              r.stdout[-600:])


def unreadable_rules():
    with Sink() as sink:
        inst = Instance(sink=sink, wait='port').prepare()
        os.chmod(inst.path('rules.cdb'), 0o600)
        with inst:
            q = inst.wait_log(r'relay-queue\[\d+\]: fatal: .*rules\.cdb: '
                              r'Permission denied')
            check('relay-queue refuses an unreadable rules.cdb', q,
                  inst.log_tail())
            s = inst.wait_log(r'relay-send\[\d+\]: fatal: .*rules\.cdb: '
                              r'Permission denied')
            check('relay-send refuses an unreadable rules.cdb', s,
                  inst.log_tail())
            check('relay-master never calls the relay ready (%s)' %
                  ', '.join(sorted(os.listdir(inst.path('run')))),
                  not os.path.exists(inst.path('run/ready')) and
                  'ready: every daemon' not in inst.log(), inst.log_tail())
            r = send(inst)
            check('no 250 while relay-queue cannot read the rules',
                  '250 2.0.0' not in r.stdout and '\n<** 4' in r.stdout,
                  r.stdout[-600:])
            check('the client is told the queue service is unavailable',
                  '<** 451 4.3.2 Queue service unavailable' in r.stdout,
                  r.stdout[-600:])
            check('nothing delivered', not sink.messages, sink.messages)


def unreadable_conf():
    inst = Instance().prepare()
    try:
        os.chmod(inst.path('relay.conf'), 0o600)
        proc = subprocess.Popen([os.path.join(BIN, 'relay-master'), '-d',
                                 inst.dir], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        check('and never says ready', not os.path.exists(
            inst.path('run/ready')))
        if rc is None:
            stop_session(proc)
        check('relay-master refuses a relay.conf relay-smtpd cannot read',
              rc not in (None, 0) and 'user relaysmtpd (relay-smtpd) cannot '
              'read it: Permission denied' in inst.log(), inst.log_tail())
    finally:
        inst.remove()


def main():
    if not is_root():
        skip('file modes', 'needs root (the daemons under their own uids)')
        return finish()
    umask_cases()
    unreadable_rules()
    unreadable_conf()
    return finish()


if __name__ == '__main__':
    sys.exit(main())
