#!/usr/bin/python3
"""test_queue_concurrency.py: relay-queue -l serves many injections at
once in one process and commits them in groups; none of that may cost
durability or correctness:
  - 240 injections over 40 simultaneous connections: every one status=0,
    ids all distinct, each new/<id> complete with its own message;
  - a client that disconnects mid-message (or sends only the message,
    or the envelope and part of the message) leaves nothing in new/ or
    tmp/, and the daemon keeps serving;
  - kill -9 of relay-queue under load: every id it acknowledged is in
    new/, complete, once it is restarted (a message answered before it
    was named in new/ is named by the restart: queue/QUEUE.md, "The
    seal"); relay-master restarts it and injection works again;
  - a full disk (a 1 MiB tmpfs, as root): 111 with "space" in the text,
    nothing left behind, and the daemon goes on (a small one fits).
Delivery is pointed at a closed port so files stay in new/ to be read."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, check, finish, is_root, skip,  # noqa: E402
                     ns_frame as frame,
                     queue_inject as inject, wait_until)
from test_queue_daemon import env  # noqa: E402

CONF = {'relayhost': '[127.0.0.1]:1', 'retry_min': '3600',
        'retry_max': '3600'}


def body(tag):
    # 4 KiB-ish, the tag in the Subject and at the very end
    return (b'Subject: ' + tag + b'\r\n\r\n' + b'x' * 4000 + b'\r\n' +
            tag + b'\r\n')


def connect(inst):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(inst.path('run/queue.sock'))
    return s


def file_ok(inst, qid, tag):
    """new/<qid> has the header for qid (after the seal line) and ends
    with the message."""
    try:
        with open(inst.path('queue/new/' + qid), 'rb') as f:
            data = f.read()
    except OSError:
        return False
    head = b'relaybox-queue 1\nseal='
    at = len(head) + 64 + 1
    return (data.startswith(head) and
            data[at:].startswith(b'qid=' + qid.encode() + b'\n')
            and data.endswith(body(tag)))


def bad_files(inst, acked, wait):
    """The acknowledged ids not (yet) complete in new/: a message answered
    before its name is made is named right after, so wait a little."""
    wait_until(lambda: all(file_ok(inst, q, tag) for q, tag in acked), wait)
    return [q for q, tag in acked if not file_ok(inst, q, tag)]


def client(inst, cid, count, acked, errors, stop=None):
    """count injections in sequence on one connection; acked gets
    (qid, tag) for each status=0."""
    try:
        s = connect(inst)
        for i in range(count):
            if stop is not None and stop.is_set():
                break
            tag = b'c%d-m%d' % (cid, i)
            rep = inject(s, body(tag), env('a@example.com',
                                           'r%d@example.org' % cid))
            if rep is None:
                errors.append('c%d: connection lost' % cid)
                s.close()
                s = connect(inst)
                continue
            if rep.get('status') == '0' and rep.get('id'):
                acked.append((rep['id'], tag))
            else:
                errors.append('c%d: %r' % (cid, rep))
        s.close()
    except OSError as e:
        errors.append('c%d: %s' % (cid, e))


def test_many(inst):
    acked, errors = [], []
    ts = [threading.Thread(target=client, args=(inst, c, 6, acked, errors))
          for c in range(40)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    took = time.time() - t0
    check('240 simultaneous injections all status=0',
          len(acked) == 240 and not errors,
          '%d acked, errors %r' % (len(acked), errors[:5]))
    ids = [q for q, _ in acked]
    check('ids all distinct', len(set(ids)) == len(ids))
    bad = bad_files(inst, acked, 10)
    check('each new/<id> complete with its own message', not bad,
          '%d bad, e.g. %r' % (len(bad), bad[:3]))
    check('tmp/ clean', inst.queue_count('tmp') == 0)
    check('took seconds, not minutes (%.1fs)' % took, took < 60)


def test_disconnect(inst):
    before = inst.queue_count()
    s = connect(inst)
    mr, mw = os.pipe()
    er, ew = os.pipe()
    socket.send_fds(s, [frame(b'op=inject\n')], [mr, er])
    os.close(mr)
    os.close(er)
    os.write(mw, b'Subject: half\r\n\r\nonly half of it')
    time.sleep(0.2)
    s.close()  # the client dies: every descriptor closes
    os.close(mw)
    os.close(ew)
    # only the message, then the client is gone before the envelope
    s = connect(inst)
    rep = inject(s, b'Subject: no env\r\n\r\nbody\r\n', None)
    check('message without envelope: status=100',
          rep and rep.get('status') == '100', repr(rep))
    s.close()
    time.sleep(0.5)
    check('disconnect mid-message: nothing in new/',
          inst.queue_count() == before,
          '%d -> %d' % (before, inst.queue_count()))
    check('disconnect mid-message: nothing in tmp/',
          inst.queue_count('tmp') == 0)
    # the envelope whole, then the start of the message, then the client
    # hangs up before it closes the message pipe (relay-send giving up
    # at inject_timeout): the pipe's end is no end of the message
    s = connect(inst)
    mr, mw = os.pipe()
    er, ew = os.pipe()
    socket.send_fds(s, [frame(b'op=inject\n')], [mr, er])
    os.close(mr)
    os.close(er)
    os.write(ew, env('a@example.com', 'x@example.org'))
    os.close(ew)
    os.write(mw, b'Subject: cut short\r\n\r\nonly the start')
    time.sleep(0.2)
    s.close()
    os.close(mw)
    check('envelope whole, client gone mid-message: nothing in new/',
          not wait_until(lambda: inst.queue_count() != before, 2),
          '%d -> %d' % (before, inst.queue_count()))
    check('envelope whole, client gone mid-message: the log says so',
          inst.wait_log(r'client hung up before the end of the message', 10),
          inst.log_tail())
    s = connect(inst)
    rep = inject(s, body(b'after-disconnect'),
                 env('a@example.com', 'x@example.org'))
    check('daemon still serves after the disconnects',
          rep and rep.get('status') == '0', repr(rep))
    s.close()


def test_kill(inst):
    acked, errors = [], []
    stop = threading.Event()
    ts = [threading.Thread(target=client,
                           args=(inst, 100 + c, 400, acked, errors, stop))
          for c in range(20)]
    for t in ts:
        t.start()
    wait_until(lambda: len(acked) >= 100, 30)
    st = inst.status().get('relay-queue')
    killed = False
    if st and st[0] > 1:
        os.kill(st[0], signal.SIGKILL)
        killed = True
    n_at_kill = len(acked)
    time.sleep(1)
    stop.set()
    for t in ts:
        t.join(60)
    check('kill -9: relay-queue was killed under load (%d acked before)'
          % n_at_kill, killed and n_at_kill >= 100)
    restarted = wait_until(
        lambda: inst.status().get('relay-queue', (0,))[0] not in (0, 1,
                                                                   st[0]), 20)
    bad = bad_files(inst, acked, 20)
    check('kill -9: every acknowledged id is in new/, complete (%d acked)'
          % len(acked), not bad, '%d missing, e.g. %r' % (len(bad), bad[:3]))
    ok = False
    if restarted:
        for _ in range(50):
            try:
                s = connect(inst)
                rep = inject(s, body(b'after-kill'),
                             env('a@example.com', 'x@example.org'))
                s.close()
                if rep and rep.get('status') == '0':
                    ok = not bad_files(inst, [(rep['id'], b'after-kill')],
                                       5)
                    break
            except OSError:
                pass
            time.sleep(0.2)
    check('kill -9: restarted and injecting again', ok, inst.log_tail())


def test_enospc():
    if not is_root():
        return skip('ENOSPC through the daemon', 'needs root (tmpfs)')
    d = tempfile.mkdtemp(prefix='relaybox-qfull-')
    fs = os.path.join(d, 'fs')
    os.makedirs(os.path.join(d, 'run'))
    os.mkdir(fs)
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs',
                       fs]).returncode != 0:
        shutil.rmtree(d)
        return skip('ENOSPC through the daemon', 'no tmpfs')
    proc = None
    try:
        with open(os.path.join(d, 'relay.conf'), 'w') as f:
            f.write('hostname = relay.test\nuser_queue = nobody\n'
                    'group_queue = nogroup\nqueue_dir = %s/queue\n' % fs)
        for p in (d, fs, os.path.join(d, 'run')):
            os.chown(p, 65534, 65534)
            os.chmod(p, 0o755)
        proc = subprocess.Popen([os.path.join(BIN, 'relay-queue'), '-d', d,
                                 '-l'], stderr=subprocess.DEVNULL)
        sock = os.path.join(d, 'run/queue.sock')
        wait_until(lambda: os.path.exists(sock), 10)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sock)
        big = b'Subject: big\r\n\r\n' + (b'y' * 998 + b'\r\n') * 1500
        rep = inject(s, big, env('a@example.com', 'b@example.org'))
        check('ENOSPC through the daemon: 111, the text says space',
              rep and rep.get('status') == '111' and
              'space' in rep.get('text', '').lower(), repr(rep))
        left = [n for sub in ('new', 'tmp')
                for n in os.listdir(os.path.join(fs, 'queue', sub))]
        check('ENOSPC through the daemon: nothing left', not left, repr(left))
        rep = inject(s, body(b'small'), env('a@example.com', 'b@example.org'))
        check('ENOSPC through the daemon: a small one still fits',
              rep and rep.get('status') == '0', repr(rep))
        s.close()
    finally:
        if proc:
            proc.kill()
            proc.wait()
        subprocess.run(['umount', fs])
        shutil.rmtree(d, ignore_errors=True)


def main():
    with Instance(conf_overrides=CONF) as inst:
        test_many(inst)
        test_disconnect(inst)
        test_kill(inst)
    test_enospc()
    finish()


if __name__ == '__main__':
    main()
