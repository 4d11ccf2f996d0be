#!/usr/bin/python3
"""test_dkim_keymode.py: a DKIM key file that makecdb accepted and that
later became readable by group or others (chmod 644), or another uid's,
is held by relay-queue to makecdb's own check (lib/dkimkey.c,
dkimkey_check_access) each time it reads the file:

- the message is still signed (a domain under DMARC would lose its mail
  unsigned; the key is already exposed either way);
- one warning in the log per read of the file, not per message, naming
  the file, the reason and the fix ("chmod 600");
- relayctl dkim show prints the same problem under the key;
- after chmod 600 the warning stops and dkim show is clean.
As root, also a key owned by another uid (nobody) but still readable by
relay-queue through mode 0644: the owner named.
Before the fix, relay-queue signed with no word in the log."""
import os
import pwd
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DEFAULT_RULES, Instance, Sink, check, finish,  # noqa: E402
                     is_root, wait_until)

MODE_WHY = 'mode 0644 gives group or others access (chmod 600)'


def make_key(keydir):
    """An Ed25519 key file owned by the signing uid, 0600, in a 0700
    folder of that uid (as relayctl dkim keygen makes them)."""
    uid = pwd.getpwnam('relayqueue').pw_uid if is_root() else os.getuid()
    path = os.path.join(keydir, 'example.com.k1.key')
    subprocess.run(['openssl', 'genpkey', '-algorithm', 'ED25519', '-out',
                    path], check=True, stderr=subprocess.DEVNULL, timeout=60)
    os.chmod(path, 0o600)
    os.chown(path, uid, -1)
    os.chown(keydir, uid, -1)
    os.chmod(keydir, 0o700)
    return path, uid


def send_signed(inst, sink, tag):
    """Send one message from example.com; True when it arrives signed."""
    msg = ('From: <joe@example.com>\r\nTo: <someone@example.org>\r\n'
           'Subject: %s\r\nMessage-ID: <%s@test>\r\n\r\nHello.\r\n'
           % (tag, tag)).encode()
    with smtplib.SMTP('127.0.0.1', inst.port, timeout=60) as s:
        s.sendmail('joe@example.com', ['someone@example.org'], msg)
    mark = ('<%s@test>' % tag).encode()
    wait_until(lambda: any(mark in m.data for m in list(sink.messages)), 30)
    got = [m.data for m in list(sink.messages) if mark in m.data]
    return bool(got) and b'DKIM-Signature:' in got[0]


def warnings(inst, key):
    return [l for l in inst.log().splitlines()
            if 'relay-queue' in l and 'warning' in l and key in l]


def test_mode(inst, sink, key):
    check('key 0600: signed', send_signed(inst, sink, 'm0'))
    check('key 0600: no warning about it', not warnings(inst, key),
          warnings(inst, key))
    r = inst.relayctl('dkim', 'show')
    check('key 0600: dkim show reports no problem',
          r.returncode == 0 and 'problem' not in r.stdout, r.stdout)

    os.chmod(key, 0o644)
    check('key 0644: still signed', send_signed(inst, sink, 'm1'))
    check('key 0644: a second message still signed',
          send_signed(inst, sink, 'm2'))
    w = warnings(inst, key)
    check('key 0644: one warning for the read, not one per message',
          len(w) == 1, w)
    check('key 0644: the warning names the reason and the fix',
          w and MODE_WHY in w[0] and 'makecdb' in w[0], w)
    r = inst.relayctl('dkim', 'show')
    check('key 0644: dkim show prints the problem under the key',
          re.search(r'problem: .*%s' % re.escape(MODE_WHY), r.stdout),
          r.stdout)

    os.chmod(key, 0o600)
    check('key back to 0600: signed', send_signed(inst, sink, 'm3'))
    check('key back to 0600: no new warning', len(warnings(inst, key)) == 1,
          warnings(inst, key))
    r = inst.relayctl('dkim', 'show')
    check('key back to 0600: dkim show clean', 'problem' not in r.stdout,
          r.stdout)


def test_owner(inst, sink, key, uid):
    nobody = pwd.getpwnam('nobody').pw_uid
    os.chown(key, nobody, -1)
    os.chmod(key, 0o644)  # relay-queue can still read it
    try:
        check('owner nobody: still signed', send_signed(inst, sink, 'o1'))
        w = [l for l in warnings(inst, key) if 'owned by uid %d' % nobody in l]
        check('owner nobody: a warning naming the owner and the signer',
              len(w) == 1 and 'must be uid %d' % uid in w[0], w)
    finally:
        os.chown(key, uid, -1)
        os.chmod(key, 0o600)


def main():
    work = tempfile.mkdtemp(prefix='dkim-keymode-')
    os.chmod(work, 0o755)
    try:
        os.mkdir(os.path.join(work, 'keys'))
        key, uid = make_key(os.path.join(work, 'keys'))
        rules = DEFAULT_RULES + 'dkim example.com k1 alg=ed25519 key=%s\n' % key
        with Sink() as sink, Instance(sink=sink, rules_text=rules) as inst:
            test_mode(inst, sink, key)
            if is_root():
                test_owner(inst, sink, key, uid)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
