#!/usr/bin/python3
"""test_queue_bounded.py: what relay-queue takes before it has any reason
to (ARCHITECTURE.md, relay-smtpd -> relay-queue).  A pipe injection's
envelope is read, and relay-smtpd's proof checked, before its message:
one without a proof is refused while its message pipe is still open and
unread.  Only pipes and sockets are read: any other descriptor (a file,
or /dev/zero that never ends) is refused without a byte read.  From
relay-smtpd's uid a message over message_size_max is refused as
toobig (100) whatever follows, so nothing spools more than that.  Root
only (the peer must be relay-smtpd's uid)."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, inline_frames,  # noqa: E402
                     is_root, ns_frame, ns_read_kv, queue_inject, skip)
from test_admit import connect_as  # noqa: E402
from test_queue_daemon import env  # noqa: E402

LIMIT = 1024 * 1024  # message_size_max here


def answer(s, timeout):
    s.settimeout(timeout)
    try:
        return ns_read_kv(s)
    except OSError as e:  # a timeout: no answer
        return {'none': str(e)}


def proofless_pipe(inst):
    """relay-smtpd's uid, op=inject, an envelope without a proof, the
    message pipe left open with nothing in it."""
    s = connect_as('relaysmtpd', inst.path('run/queue.sock'))
    mr, mw = os.pipe()
    er, ew = os.pipe()
    socket.send_fds(s, [ns_frame(b'op=inject\n')], [mr, er])
    os.close(mr)
    os.close(er)
    os.write(ew, env('a@example.com', 'nope@example.org'))
    os.close(ew)
    t0 = time.monotonic()
    rep = answer(s, 20)
    os.close(mw)
    s.close()
    return rep, time.monotonic() - t0


def file_as_message(inst):
    """root, op=inject with a regular file of 8 MiB as the message."""
    path = inst.path('big-file')
    with open(path, 'wb') as f:
        f.truncate(8 * 1024 * 1024)
    fd = os.open(path, os.O_RDONLY)
    er, ew = os.pipe()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(inst.path('run/queue.sock'))
    socket.send_fds(s, [ns_frame(b'op=inject\n')], [fd, er])
    os.close(er)
    try:
        os.write(ew, env('a@example.com', 'file@example.org'))
    except BrokenPipeError:
        pass
    os.close(ew)
    rep = answer(s, 60)
    offset = os.lseek(fd, 0, os.SEEK_CUR)
    os.close(fd)
    s.close()
    return rep, offset


def main():
    if not is_root():
        skip('test_queue_bounded', 'needs root (relay-smtpd\'s uid)')
        finish()
    conf = {'message_size_max': LIMIT}
    with Sink() as sink, Instance(sink=sink, conf_overrides=conf) as inst:
        rep, took = proofless_pipe(inst)
        check('pipes from relay-smtpd\'s uid, no proof: 100 admit before '
              'the message ends', rep.get('status') == '100' and
              rep.get('reason') == 'admit', '%r after %.1f s' % (rep, took))
        rep, offset = file_as_message(inst)
        check('a regular file as the message: 100 request, nothing read',
              rep.get('status') == '100' and rep.get('reason') == 'request'
              and offset == 0, '%r, offset %d' % (rep, offset))
        s = connect_as('relaysmtpd', inst.path('run/queue.sock'))
        big = b'Subject: big\r\n\r\n' + b'x' * 998 + b'\r\n'
        big *= LIMIT // len(big) + 1
        s.sendall(inline_frames(big, env('a@example.com', 'big@example.org'),
                                65536))
        rep = answer(s, 60)
        check('inline from relay-smtpd\'s uid over message_size_max: 100 '
              'toobig', rep.get('status') == '100' and
              rep.get('reason') == 'toobig', repr(rep))
        s.sendall(inline_frames(b'Subject: small\r\n\r\nx\r\n',
                                env('a@example.com', 'small@example.org')))
        rep = answer(s, 60)
        check('then a small one on the same connection: 100 admit (no '
              'proof), in step', rep.get('status') == '100' and
              rep.get('reason') == 'admit', repr(rep))
        s.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(inst.path('run/queue.sock'))
        rep = queue_inject(s, big, env('a@example.com', 'root@example.org'))
        check('root\'s pipes (relay-send\'s way) are not limited: status=0',
              rep and rep.get('status') == '0', repr(rep))
        s.close()
        check('delivered', sink.wait_for(1, 30), inst.log_tail())
        check('nothing left in tmp/', inst.queue_count('tmp') == 0,
              inst.queue_count('tmp'))
    finish()


if __name__ == '__main__':
    main()
