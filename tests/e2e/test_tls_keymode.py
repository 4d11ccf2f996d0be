#!/usr/bin/python3
"""test_tls_keymode.py: a TLS key file that others can read (mode 0644)
is served all the same (a running relay is not broken by it), but the
operator at the console hears of it, not only the log:

- relayctl start: exit 0, and on stderr "relayctl: warning: tls: key
  file ... is accessible to other (mode 644)";
- relayctl reload: "tls: serving ..." on stdout, exit 0, the same
  warning on stderr;
- after chmod 600, reload says nothing on stderr;
- a key that does not load at start (a wrong path): start says so on
  stderr too (STARTTLS answers 454 until it is fixed), exit 0.
Before the fix the warning was only in log/relay.log."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, check, finish  # noqa: E402
from certs import TestCerts  # noqa: E402

WARN = 'is accessible to other (mode 644)'


def stop(inst):
    inst.relayctl('stop')
    for p in inst.pids():  # what a failed stop left of this instance
        os.kill(p, signal.SIGKILL)


def test_world_readable(certs):
    os.chmod(certs.key, 0o644)
    inst = Instance(conf_overrides=certs.conf()).prepare()
    try:
        r = inst.relayctl('start')
        check('key 0644: start exits 0 (the relay serves)',
              r.returncode == 0, (r.returncode, r.stdout, r.stderr))
        check('key 0644: start warns on stderr, naming the key',
              WARN in r.stderr and certs.key in r.stderr and
              'relayctl: warning:' in r.stderr, r.stderr)
        r = inst.relayctl('reload')
        check('key 0644: reload serves it (exit 0, "tls: serving")',
              r.returncode == 0 and 'tls: serving' in r.stdout,
              (r.returncode, r.stdout, r.stderr))
        check('key 0644: reload warns on stderr, naming the key',
              WARN in r.stderr and certs.key in r.stderr, r.stderr)
        check('key 0644: the warning is not on stdout', WARN not in r.stdout,
              r.stdout)
        os.chmod(certs.key, 0o600)
        r = inst.relayctl('reload')
        check('key 0600: reload says nothing on stderr, exit 0',
              r.returncode == 0 and r.stderr == '' and
              'tls: serving' in r.stdout, (r.returncode, r.stdout, r.stderr))
    finally:
        stop(inst)
        inst.remove()


def test_missing_key(certs):
    conf = dict(certs.conf(), tls_key=certs.key + '.gone')
    inst = Instance(conf_overrides=conf).prepare()
    try:
        r = inst.relayctl('start')
        check('key missing: start exits 0 (the relay runs, without TLS)',
              r.returncode == 0, (r.returncode, r.stdout, r.stderr))
        check('key missing: start says why on stderr',
              'relayctl: warning:' in r.stderr and '.gone' in r.stderr and
              '454' in r.stderr, r.stderr)
    finally:
        stop(inst)
        inst.remove()


def main():
    with TestCerts() as certs:
        test_world_readable(certs)
        test_missing_key(certs)
    finish()


if __name__ == '__main__':
    main()
