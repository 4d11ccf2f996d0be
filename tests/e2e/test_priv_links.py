#!/usr/bin/python3
"""test_priv_links.py: root (relayctl, makecdb) and relay-policy at its
start read files by name in folders a lower uid can write: abuse/ and
dkim/ (relay-queue's), secrets/ (relay-remote's).  A symbolic link that
uid plants there (to a file only root may read) is not followed, and a
FIFO does not make the reader hang: each reader says the file is
refused and goes on (or stops) in bounded time.  The places: relayctl
abuse list (abuse/accounts), makecdb and relayctl dkim show (dkim/),
relay-policy's start (abuse/suspended; an older install's
secrets/rate_store, read while DIR/rate_store.auth is absent, which
relayctl stats reads too).
Not root: prints a SKIP note and no PASS line."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, as_user, check, finish,  # noqa: E402
                     skipped_unless_root)
from sink import free_port  # noqa: E402

WAIT = 15  # seconds: a reader that blocks on a FIFO is caught by this


def root_only(inst, text):
    """A file only root may read, the target of the planted links."""
    path = inst.path('root-only')
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def plant(user, path, target=None):
    """As user: path becomes a link to target, or a FIFO (no target)."""
    def make():
        if os.path.lexists(path):
            os.unlink(path)
        if target:
            os.symlink(target, path)
        else:
            os.mkfifo(path, 0o600)
        return 'planted'
    got = as_user(user, make)
    if got != 'planted':
        raise RuntimeError('as %s, planting %s: %s' % (user, path, got))


def run(argv):
    """(returncode, output), or (None, 'hung') after WAIT seconds."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=WAIT)
    except subprocess.TimeoutExpired:
        return None, 'hung for %d s' % WAIT
    return r.returncode, r.stdout


def kinds(user, path, target):
    """Each planted kind: (name, what the refusal says), planted."""
    for name, target_, why in (('a symbolic link', target,
                                'a symbolic link: refused'),
                               ('a FIFO', None,
                                'a FIFO, not a regular file: refused')):
        plant(user, path, target_)
        yield name, why


def test_abuse_list(inst, secret):
    path = inst.path('abuse/accounts')
    for name, why in kinds('relayqueue', path, secret):
        rc, out = run([os.path.join(BIN, 'relayctl'), '-d', inst.dir,
                       'abuse', 'list'])
        check('relayctl abuse list: %s at abuse/accounts is refused, '
              'no hang' % name, rc not in (None, 0) and why in out and
              'not-for-relayqueue' not in out, '%s: %s' % (rc, out))
    os.unlink(path)


def test_dkim(inst, secret):
    with open(inst.path('relay.rules'), 'a') as f:
        f.write('dkim example.com s1\n')
    path = inst.path('dkim/example.com.s1.key')
    for name, why in kinds('relayqueue', path, secret):
        rc, out = run([os.path.join(BIN, 'makecdb'), '-d', inst.dir])
        check('makecdb: %s as a DKIM key is refused, no hang' % name,
              rc not in (None, 0) and why in out, '%s: %s' % (rc, out))
        rc, out = run([os.path.join(BIN, 'relayctl'), '-d', inst.dir,
                       'dkim', 'show'])
        check('relayctl dkim show: %s in dkim/ is refused, no hang' % name,
              rc is not None and why in out, '%s: %s' % (rc, out))
    os.unlink(path)


def restart_policy(inst):
    """Kill relay-policy; the log from then on once relay-master has
    started it again and it listens (None when it does not in WAIT s)."""
    mark = len(inst.log())
    os.kill(inst.status()['relay-policy'][0], signal.SIGKILL)
    deadline = time.time() + WAIT
    while time.time() < deadline:
        text = inst.log()[mark:]
        if re.search(r'relay-policy\[\d+\]: info: listening on', text):
            return text
        time.sleep(0.1)
    return None


def test_policy_suspended(inst, secret):
    path = inst.path('abuse/suspended')
    for name, why in kinds('relayqueue', path, secret):
        text = restart_policy(inst)
        check('relay-policy: %s at abuse/suspended is refused, it starts'
              % name, text is not None and 'abuse/suspended: ' + why in text,
              text or inst.log_tail())
    os.unlink(path)


def test_rate_store_auth():
    """An older install's secrets/rate_store (no DIR/rate_store.auth),
    read as root by relayctl and at relay-policy's start; nothing
    listens on the rate_store port (refused before)."""
    inst = Instance(conf_overrides={
        'rate_store': 'redis://127.0.0.1:%d/3' % free_port('127.0.0.1')},
        ready_timeout=WAIT + 15)
    inst.prepare()
    try:
        secret = root_only(inst, 'user relay\npassword not-for-remote\n')
        secrets = inst.path('secrets')
        os.mkdir(secrets, 0o700)
        os.chown(secrets, *remote_ids())
        path = os.path.join(secrets, 'rate_store')
        for name, why in kinds('relayremote', path, secret):
            rc, out = run([os.path.join(BIN, 'relayctl'), '-d', inst.dir,
                           'stats'])
            check('relayctl stats: %s at secrets/rate_store is refused, no '
                  'hang' % name, rc not in (None, 0) and why in out,
                  '%s: %s' % (rc, out))
        try:  # the FIFO is still there
            inst.start()
            started = True
        except RuntimeError as e:
            started = str(e)
        check('relay-policy starts with a FIFO at secrets/rate_store, and '
              'says it is refused', started is True and inst.wait_log(
                  r'relay-policy\[\d+\]: .*secrets/rate_store: a FIFO, not '
                  r'a regular file: refused', 5), started)
        inst.stop()
        check('relay-policy, its shared store refused, stops cleanly',
              'AddressSanitizer' not in inst.log(), inst.log_tail())
    finally:
        inst.stop()
        inst.remove()


def remote_ids():
    import pwd
    pw = pwd.getpwnam('relayremote')
    return pw.pw_uid, pw.pw_gid


def main():
    if skipped_unless_root('test_priv_links'):
        return finish()
    with Instance() as inst:
        secret = root_only(inst, 'relaybox-abuse 1\nnot-for-relayqueue\n'
                           'user victim@example.com\n')
        test_abuse_list(inst, secret)
        test_dkim(inst, secret)
        test_policy_suspended(inst, secret)
    test_rate_store_auth()
    return finish()


if __name__ == '__main__':
    sys.exit(main())
