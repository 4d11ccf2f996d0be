#!/usr/bin/python3
"""test_queue_unreadable.py: a queue file relay-send cannot read (here a
dsn_rcpt line naming no earlier recipient, which QUEUE.md says makes the
file unreadable; in life a damaged file) is moved to hold/ once, with one
log line naming the id and the reason, not left in new/ and logged at
every scan.  relayctl sees it (queue/QUEUE.md, "Unreadable files"):
  - queue list shows it by its file name, "unreadable: <why>";
  - queue show names it and why (exit 0);
  - queue delete removes it (and its state file);
  - a file whose qid= is not its name is refused the same way, and is
    selected by its file name.
Then a good message still goes through."""
import grp
import os
import pwd
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, is_root,  # noqa: E402
                     smtp_session, wait_until)

BAD = '6B000001000000000040'
OTHER = '6B000001000000000050'


def queue_file(qid, extra=b''):
    return (b'relaybox-queue 1\nseal=' + b'0' * 64 + b'\nqid=' +
            qid.encode() + b'\ntime=1000\nfrom=a@example.com\n'
            b'rcpt=b@example.org\n' + extra + b'\nSubject: x\r\n\r\nx\r\n')


def put(inst, name, data):
    """As relay-queue would: written in tmp/, renamed into new/."""
    tmp = inst.path('queue/tmp/' + name)
    with open(tmp, 'wb') as f:
        f.write(data)
    if is_root():
        os.chown(tmp, pwd.getpwnam('relayqueue').pw_uid,
                 grp.getgrnam('relayq').gr_gid)
    os.chmod(tmp, 0o640)
    os.rename(tmp, inst.path('queue/new/' + name))


def held(inst, name):
    return os.path.exists(inst.path('queue/hold/' + name))


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        put(inst, BAD, queue_file(BAD, b'dsn_rcpt=5 NEVER -\n'))
        put(inst, OTHER, queue_file('6B0000010000000000F0'))
        check('moved to hold/, out of new/',
              wait_until(lambda: held(inst, BAD) and held(inst, OTHER), 40)
              and inst.queue_count() == 0, inst.log_tail())
        check('one log line with the id and why',
              inst.wait_log(r'relay-send.*%s: refused: unreadable queue '
                            r'file: bad dsn_rcpt line; moved to hold/' % BAD,
                            5), inst.log_tail())
        check('the other: its header names another id',
              inst.wait_log(r'relay-send.*%s: refused: .*another' % OTHER,
                            5), inst.log_tail())
        r = inst.relayctl('queue', 'list')
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith(BAD)]
        check('list: shown as unreadable, with why',
              r.returncode == 0 and len(lines) == 1 and
              'unreadable: bad dsn_rcpt line' in lines[0],
              r.stdout + r.stderr)
        check('list: the other by its file name',
              any(ln.startswith(OTHER) for ln in r.stdout.splitlines()),
              r.stdout)
        r = inst.relayctl('queue', 'show', BAD)
        check('show: names it and why',
              r.returncode == 0 and BAD in r.stdout and
              'unreadable: bad dsn_rcpt line' in r.stdout,
              r.stdout + r.stderr)
        r = inst.relayctl('queue', 'delete', BAD, OTHER)
        check('delete: both by file name', r.returncode == 0 and
              not held(inst, BAD) and not held(inst, OTHER),
              r.stdout + r.stderr)
        n = inst.log().count(BAD + ': refused')
        check('logged once, not at every scan', n == 1, inst.log_tail())
        with smtp_session(inst.port) as c:
            c.sendmail('a@example.com', ['good@example.org'],
                       b'Subject: after\r\n\r\nx\r\n')
        check('a good message still goes through', sink.wait_for(1, 30),
              inst.log_tail())
    finish()


if __name__ == '__main__':
    main()
