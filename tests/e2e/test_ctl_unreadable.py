#!/usr/bin/python3
"""test_ctl_unreadable.py: relayctl run by a user who cannot read what it
is asked about says so and exits 111 (man/relayctl.8), rather than
looking like an empty result:

- queue list on an unreadable queue: the error, exit 111 (was 255);
- log when log_file cannot be opened (unreadable, or missing): the
  error, exit 111 (was "nothing matched", exit 1).
Run as root (it drops to nobody for the unreadable cases).
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, finish,  # noqa: E402
                     skipped_unless_root)

LINE = ('2026-12-07T06:35:10.000 relay-queue[1]: info: '
        '6B16588C605D70640E0: from=<you@example.com> size=3\n')


def relayctl(d, *args, nobody=False):
    cmd = [os.path.join(BIN, 'relayctl'), '-d', d] + list(args)
    if nobody:
        cmd = ['setpriv', '--reuid=nobody', '--regid=nogroup',
               '--clear-groups'] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def make_instance():
    d = tempfile.mkdtemp(prefix='relaybox-e2e-')
    os.chmod(d, 0o755)
    with open(os.path.join(d, 'relay.conf'), 'w') as f:
        f.write('hostname = t.example\nlisten = 127.0.0.1:1\n')
    for sub in ('log', 'queue/new', 'queue/hold'):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, 'log/relay.log'), 'w') as f:
        f.write(LINE)
    os.chmod(os.path.join(d, 'log'), 0o700)
    os.chmod(os.path.join(d, 'queue'), 0o700)
    return d


def test_queue_list(d):
    r = relayctl(d, 'queue', 'list', nobody=True)
    check('queue list, queue unreadable: exit 111 (rc %d)' % r.returncode,
          r.returncode == 111, r.stderr)
    check('queue list, queue unreadable: says why',
          'Permission denied' in r.stderr, r.stderr)


def test_log(d):
    r = relayctl(d, 'log', '--from', 'you@example.com')
    check('log as root: the line, exit 0', r.returncode == 0 and
          'you@example.com' in r.stdout, r.stdout + r.stderr)
    r = relayctl(d, 'log', '--from', 'you@example.com', nobody=True)
    check('log, log unreadable: exit 111 (rc %d)' % r.returncode,
          r.returncode == 111, r.stdout + r.stderr)
    check('log, log unreadable: says why',
          'relay.log' in r.stderr and 'Permission denied' in r.stderr,
          r.stderr)
    os.unlink(os.path.join(d, 'log/relay.log'))
    r = relayctl(d, 'log', '--from', 'you@example.com')
    check('log, no log file: exit 111 (rc %d)' % r.returncode,
          r.returncode == 111 and 'relay.log' in r.stderr, r.stderr)


def main():
    if skipped_unless_root('relayctl as nobody'):
        finish()
        return
    d = make_instance()
    try:
        test_queue_list(d)
        test_log(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
