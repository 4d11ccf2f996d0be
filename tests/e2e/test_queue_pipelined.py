#!/usr/bin/python3
"""test_queue_pipelined.py: many requests written on one run/queue.sock
connection before any answer is read.  50,000 injections that relay-queue
refuses at once (an empty envelope) in one stream are each answered, in
turn, by the same relay-queue: refusing one and reading the next is a
loop, not one level of the call stack per request (which a stream like
this ran out of).  Another client's injection, meanwhile, is answered
too, and relay-queue is still the same process afterwards."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, inline_frames,  # noqa: E402
                     ns_frame, ns_read_kv, wait_until)
from test_queue_daemon import env  # noqa: E402

REFUSED = 50000


def connect(inst):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(inst.path('run/queue.sock'))
    return s


def read_answers(s, n, out):
    """Count the status of up to n answers on s (buffered: one recv per
    frame would take longer than relay-queue)."""
    f = s.makefile('rb')
    try:
        for _ in range(n):
            head = b''
            while not head.endswith(b':'):
                c = f.read(1)
                if not c:
                    return
                head += c
            body = f.read(int(head[:-1]) + 1)
            if len(body) < int(head[:-1]) + 1:
                return
            st = [ln for ln in body.split(b'\n') if ln.startswith(b'status=')]
            key = st[0][7:].decode() if st else '?'
            out[key] = out.get(key, 0) + 1
    except OSError:
        return


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        pid = inst.status()['relay-queue'][0]
        refused = ns_frame(b'op=inline\n') + ns_frame(b'') + ns_frame(b'')
        s = connect(inst)
        got = {}
        reader = threading.Thread(target=read_answers,
                                  args=(s, REFUSED, got))
        reader.start()
        try:
            s.sendall(refused * REFUSED)
        except OSError as e:  # relay-queue gone in the middle
            print('# sending: %s' % e)
        other = connect(inst)
        other.sendall(inline_frames(b'Subject: other\r\n\r\nhi\r\n',
                                    env('a@example.com',
                                        'other@example.org')))
        rep = ns_read_kv(other)
        check('another client meanwhile: status=0',
              rep and rep.get('status') == '0', repr(rep))
        reader.join(120)
        check('%d pipelined refusals: each answered 100' % REFUSED,
              got == {'100': REFUSED}, repr(got))
        check('relay-queue is the same process',
              inst.status().get('relay-queue', (0,))[0] == pid and
              inst.log().count('started relay-queue') == 1,
              inst.log_tail())
        s2 = connect(inst)
        s2.sendall(inline_frames(b'Subject: after\r\n\r\nhi\r\n',
                                 env('a@example.com', 'after@example.org')))
        rep = ns_read_kv(s2)
        check('and takes the next injection',
              rep and rep.get('status') == '0', repr(rep))
        check('both delivered', sink.wait_for(2, 30), inst.log_tail())
        for c in (s, other, s2):
            c.close()
        check('nothing of the refused ones left', wait_until(
            lambda: inst.queue_count('tmp') == 0, 20),
            inst.queue_count('tmp'))
    finish()


if __name__ == '__main__':
    main()
