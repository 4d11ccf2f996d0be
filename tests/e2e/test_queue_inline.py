#!/usr/bin/python3
"""test_queue_inline.py: relay-queue's inline injections on run/queue.sock
(relay-smtpd's way, ARCHITECTURE.md): "op=inline", the message in frames,
an empty frame, the envelope in frames, an empty frame; then the answer.
A message in one frame or many arrives byte for byte; several injections
(and a pipe one) share a connection; an empty envelope is 100 and leaves
nothing; an envelope over the limit is 100 only after its last frame, so
the connection stays in step; descriptors with op=inline, or a peer that
goes away in the middle, drop the connection and leave nothing behind.
Requests written before the answers (pipelined) are answered in turn
without delay; a client gone while its message is in the commit does
not disturb the others, and its complete message is delivered."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, inline_frames,  # noqa: E402
                     ns_frame, ns_read_kv, queue_inject, wait_until)
from test_queue_daemon import env  # noqa: E402


def connect(inst):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(inst.path('run/queue.sock'))
    return s


def inline(s, msg, e, chunk=16384):
    s.sendall(inline_frames(msg, e, chunk))
    return ns_read_kv(s)


def gone(s):
    try:
        return s.recv(100) == b''
    except OSError:
        return True


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        s = connect(inst)
        small = b'Subject: one\r\n\r\none frame\r\n'
        rep = inline(s, small, env('a@example.com', 'one@example.org'))
        check('one frame: status=0 with an id',
              rep and rep.get('status') == '0' and rep.get('id'), repr(rep))
        big = b'Subject: many\r\n\r\n' + b''.join(
            b'line %05d of a message in many frames\r\n' % i
            for i in range(3000))
        rep = inline(s, big, env('a@example.com', 'many@example.org'), 1000)
        check('the same connection, 1000-byte frames: status=0',
              rep and rep.get('status') == '0', repr(rep))
        rep = queue_inject(s, b'Subject: pipes\r\n\r\npipes\r\n',
                           env('a@example.com', 'pipes@example.org'))
        check('then a pipe injection on it: status=0',
              rep and rep.get('status') == '0', repr(rep))
        check('all three delivered', sink.wait_for(3, 30), inst.log_tail())
        by_rcpt = {m.rcpts[0]: m.data for m in sink.messages}
        check('byte for byte, Received first',
              by_rcpt.get('one@example.org', b'').endswith(small) and
              by_rcpt.get('many@example.org', b'').endswith(big) and
              by_rcpt.get('one@example.org', b'').startswith(b'Received: '),
              repr(list(by_rcpt)))
        rep = inline(s, b'Subject: aborted\r\n\r\nx\r\n', b'')
        check('an empty envelope: status=100',
              rep and rep.get('status') == '100', repr(rep))
        huge = b'T' + b'x' * (33 * 1024 * 1024) + b'\0\0'
        rep = inline(s, b'Subject: huge\r\n\r\nx\r\n',
                     b'Fa@example.com\0' + huge, 65536)
        check('an envelope over 32 MiB: status=100 after its last frame',
              rep and rep.get('status') == '100', repr(rep))
        rep = inline(s, small, env('a@example.com', 'after@example.org'))
        check('the connection is still in step after both',
              rep and rep.get('status') == '0', repr(rep))
        check('nothing of the refused ones left',
              wait_until(lambda: inst.queue_count() == 0, 20) and
              inst.queue_count('tmp') == 0, inst.queue_count())
        mr, mw = os.pipe()
        c = connect(inst)
        socket.send_fds(c, [ns_frame(b'op=inline\n')], [mr])
        os.close(mr)
        os.close(mw)
        check('op=inline with descriptors drops the connection', gone(c))
        c.close()
        c = connect(inst)
        c.sendall(inline_frames(small, env('a@example.com', 'x@example.org'))
                  [:60])
        c.close()
        rep = inline(s, small, env('a@example.com', 'last@example.org'))
        check('a peer gone in the middle: others go on',
              rep and rep.get('status') == '0', repr(rep))
        check('and it left nothing', wait_until(
            lambda: inst.queue_count() == 0 and inst.queue_count('tmp') == 0,
            20) and 'x@example.org' not in str(inst.log()), inst.log_tail())
        # the commit thread answers; a client that writes its next
        # injections before reading the answers gets each in turn, and
        # soon (a buffered request must not wait for the daemon's tick)
        c = connect(inst)
        t0 = time.monotonic()
        c.sendall(b''.join(inline_frames(
            small, env('a@example.com', 'p%d@example.org' % i))
            for i in range(3)))
        reps = [ns_read_kv(c) for i in range(3)]
        took = time.monotonic() - t0
        check('three injections in one write: three answers, status=0',
              all(r and r.get('status') == '0' for r in reps) and
              len(set(r.get('id') for r in reps)) == 3, repr(reps))
        check('without waiting for the once-a-second tick', took < 1.5,
              '%.2f s' % took)
        c.close()
        c = connect(inst)
        c.sendall(inline_frames(small, env('a@example.com',
                                           'hangup@example.org')))
        c.close()
        rep = inline(s, small, env('a@example.com', 'after2@example.org'))
        check('a client gone while its message is in the commit: others '
              'go on', rep and rep.get('status') == '0', repr(rep))
        check('its message, complete when it left, is delivered',
              wait_until(lambda: 'hangup@example.org' in
                         [m.rcpts[0] for m in sink.messages], 30),
              inst.log_tail())
        s.close()
    finish()


if __name__ == '__main__':
    main()
