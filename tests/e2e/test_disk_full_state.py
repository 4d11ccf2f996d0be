#!/usr/bin/python3
"""test_disk_full_state.py: relay-send's state file on a full disk.

The queue is a 2 MiB tmpfs.  A message to 100 recipients is deferred at
every attempt (the receiver answers 451 to DATA, retries every second),
so relay-send appends 100 result lines per attempt to state/<id>.  The
disk is then filled: an append stores what fits in the file's last page
and fails.  Checked (lib/qstate.h):
  - after the failed append the file ends in a whole line (the partial
    append is cut off), so the next append cannot continue a fragment;
  - space back, later appends: every line is one whole result (none
    glued to a fragment: "1" + "3 D ..." would read as recipient 13);
  - relay-send restarted: it replays the file, no recipient is taken as
    delivered; the receiver then accepts and all 100 arrive.
Needs root (mount); without it a SKIP note.  Unmounted in a finally."""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check,  # noqa: E402
                     run_on_small_queue, smtp_session, wait_until)

NRCPT = 100
RCPTS = ['r%03d@example.org' % i for i in range(NRCPT)]
# one result, its check optional (lines written before checks had none)
WHOLE = re.compile(rb'^(\d+ [DTB] \d+ \d+ \d+ [^\t]*|W \d+|X \d+ [0-9A-F]+)'
                   rb'(\t[0-9a-f]{8})?$')


def state_path(qdir):
    names = os.listdir(os.path.join(qdir, 'state'))
    return os.path.join(qdir, 'state', names[0]) if names else None


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def fill(qdir):
    """Fill the tmpfs to the last byte, smaller writes after each
    ENOSPC; the filler's path."""
    path = os.path.join(qdir, 'filler')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                for _ in range(4096):
                    os.write(fd, b'\0' * size)
            except OSError:
                pass    # ENOSPC at this size: on to the next, smaller
    finally:
        os.close(fd)
    return path


def restart_send(inst):
    old = inst.status().get('relay-send', (0,))[0]
    if old > 1:
        os.kill(old, signal.SIGKILL)
    return wait_until(lambda: inst.status().get('relay-send', (old,))[0]
                      not in (old, 0, 1), 20)


def pending(inst, qid):
    """relayctl queue list's PENDING/ALL for qid, as 'n/m'."""
    out = inst.relayctl('queue', 'list').stdout
    for line in out.splitlines():
        if line.startswith(qid):
            return next((f for f in line.split() if '/' in f), '')
    return ''


def test_state(qdir):
    conf = {'queue_dir': qdir, 'retry_min': 1, 'retry_max': 1}
    with Sink(data_codes=451) as sink, \
            Instance(sink=sink, conf_overrides=conf) as inst:
        with smtp_session(inst.port) as c:
            c.sendmail('a@example.com', RCPTS, b'Subject: state\r\n\r\nx\r\n')
        check('state: results appended',
              wait_until(lambda: state_path(qdir) and
                         os.path.getsize(state_path(qdir)) > 20000, 60),
              inst.log_tail())
        path = state_path(qdir)
        qid = os.path.basename(path or 'none')
        filler = fill(qdir)
        check('full: a state write fails',
              inst.wait_log(r'%s: state write failed' % qid, 30),
              inst.log_tail())
        data = read(path)
        check('full: the file still ends in a whole line',
              data.endswith(b'\n'), repr(data[-120:]))
        size = len(data)
        os.unlink(filler)
        check('space back: later results appended',
              wait_until(lambda: os.path.getsize(path) > size + 5000, 30),
              inst.log_tail())
        data = read(path)
        bad = [ln for ln in data.split(b'\n')[:-1] if not WHOLE.match(ln)]
        check('space back: every line is one whole result', not bad,
              repr(bad[:3]))
        check('restart: relay-send restarted', restart_send(inst),
              inst.log_tail())
        check('restart: no recipient taken as delivered',
              wait_until(lambda: pending(inst, qid) ==
                         '%d/%d' % (NRCPT, NRCPT), 20),
              pending(inst, qid) + '\n' + inst.log_tail())
        sink.data_codes = 250
        inst.relayctl('queue', 'flush')
        check('accepted: every recipient arrives',
              wait_until(lambda: set(RCPTS) <= {r for m in sink.messages
                                                 for r in m.rcpts}, 60),
              inst.log_tail())


def main():
    run_on_small_queue('disk full state', test_state)


if __name__ == '__main__':
    main()
