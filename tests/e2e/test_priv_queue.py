#!/usr/bin/python3
"""test_priv_queue.py: root never follows a link that the queue's uids
planted (issue 18, finding 1).  As relayqueue (what a taken-over
relay-queue is) the test puts symbolic links where queue/trigger,
queue/hold, queue/new and queue/flush belong, each pointing at a file or
folder only root may touch, and then has root work on the queue:
relay-master's start (it owns and modes the queue's entries) and relayctl
queue flush/hold/release.  The root-only targets must come out
untouched; relay-master refuses to start with a line saying why.
Not root: prints a SKIP note and no PASS line."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, as_user, check, finish, free_port,  # noqa: E402
                     skipped_unless_root, smtp_session, wait_until)


def root_only():
    """A root-only folder with a root-only file in it: (folder, file)."""
    d = tempfile.mkdtemp(prefix='relaybox-secret-')
    os.chmod(d, 0o700)
    f = os.path.join(d, 'secret')
    with open(f, 'w') as fh:
        fh.write('secret\n')
    os.chmod(f, 0o600)
    return d, f


def ident(path):
    st = os.lstat(path)
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime_ns,
            sorted(os.listdir(path)) if stat.S_ISDIR(st.st_mode) else None)


def plant(inst, name, target):
    """As relayqueue: put a link to target where queue/<name> is (the
    original moved aside to <name>.real)."""
    q = inst.path('queue')

    def do():
        os.rename(os.path.join(q, name), os.path.join(q, name + '.real'))
        os.symlink(target, os.path.join(q, name))
        return 'ok'
    return as_user('relayqueue', do)


def unplant(inst, name):
    q = inst.path('queue')
    os.unlink(os.path.join(q, name))
    os.rename(os.path.join(q, name + '.real'), os.path.join(q, name))


def master_refuses(inst, name, target):
    """Plant queue/<name> -> target, start relay-master: it must exit
    with a refusal and leave target as it was."""
    before = ident(target)
    check('%s: link planted as relayqueue' % name,
          plant(inst, name, target) == 'ok')
    p = subprocess.Popen([os.path.join(BIN, 'relay-master'), '-d', inst.dir],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
        os.killpg(p.pid, 9)
        p.wait()
    check('master: queue/%s as a link: start refused' % name,
          rc not in (None, 0), repr(rc))
    check('master: queue/%s as a link: the refusal is logged' % name,
          inst.wait_log(r'queue/%s is not a .*refused' % name, 5),
          inst.log_tail())
    check('master: queue/%s as a link: root-only target untouched' % name,
          ident(target) == before, repr((before, ident(target))))
    unplant(inst, name)


def ctl_flush(inst, secret_dir, secret):
    made = os.path.join(secret_dir, 'made-by-flush')
    before = ident(secret)
    plant(inst, 'flush', made) if os.path.exists(inst.path('queue/flush')) \
        else as_user('relayqueue', lambda: os.symlink(made, inst.path('queue/flush')))
    inst.relayctl('queue', 'flush')
    check('relayctl flush: no file created through the link',
          not os.path.exists(made), os.listdir(secret_dir))
    os.unlink(inst.path('queue/flush'))
    as_user('relayqueue', lambda: os.symlink(secret, inst.path('queue/flush')))
    inst.relayctl('queue', 'flush')
    check('relayctl flush: the linked root-only file untouched',
          ident(secret) == before, repr((before, ident(secret))))
    os.unlink(inst.path('queue/flush'))


def ctl_move(inst, secret_dir, verb, linked):
    """relayctl queue <verb> --all with queue/<linked> a link to a
    root-only folder: nothing lands there."""
    before = ident(secret_dir)
    plant(inst, linked, secret_dir)
    r = inst.relayctl('queue', verb, '--all')
    unplant(inst, linked)
    check('relayctl %s: nothing moved into the root-only folder' % verb,
          ident(secret_dir) == before, repr((r.stdout, r.stderr, before,
                                             ident(secret_dir))))
    check('relayctl %s: the failure is reported' % verb,
          r.returncode != 0 and 'ermission denied' in r.stderr,
          repr((r.returncode, r.stdout, r.stderr)))


def main():
    if skipped_unless_root('priv_queue'):
        return
    secret_dir, secret = root_only()
    try:
        run(secret_dir, secret)
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)


def run(secret_dir, secret):
    dead = free_port('127.0.0.1')  # nothing listens: the message stays
    with Instance(conf_overrides={'relayhost': '[127.0.0.1]:%d' % dead}) as inst:
        with smtp_session(inst.port) as c:
            c.sendmail('a@example.com', ['b@example.org'],
                       b'Subject: held\r\n\r\nbody\r\n')
        check('a message waits in new/',
              wait_until(lambda: inst.queue_count('new') == 1, 20),
              inst.log_tail())
        ctl_flush(inst, secret_dir, secret)
        ctl_move(inst, secret_dir, 'hold', 'hold')
        r = inst.relayctl('queue', 'hold', '--all')
        check('relayctl hold without links still works',
              r.returncode == 0 and inst.queue_count('hold') == 1,
              repr((r.stdout, r.stderr)))
        ctl_move(inst, secret_dir, 'release', 'new')
        r = inst.relayctl('queue', 'release', '--all')
        check('relayctl release without links still works',
              r.returncode == 0 and inst.queue_count('new') == 1,
              repr((r.stdout, r.stderr)))
        inst.stop()
        master_refuses(inst, 'trigger', secret)
        master_refuses(inst, 'hold', secret_dir)


main()
finish()
