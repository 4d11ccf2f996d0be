#!/usr/bin/python3
"""test_queue_daemon.py: relay-queue -l on run/queue.sock (the protocol of
ARCHITECTURE.md): several injections on one connection, each "op=inject"
with the message and envelope pipes attached; status=0 id= for a good one
(and the message reaches the receiver), status=100 for a bad envelope and
for an aborted DATA (pipes closed without an envelope), a garbage frame
drops the connection, and a peer uid that is not allowed is refused."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, is_root,  # noqa: E402
                     queue_inject, skip)


inject = queue_inject  # the name other tests import


def env(sender, *rcpts):
    e = b'Iip=127.0.0.1\0Ihelo=daemon.test\0F' + sender.encode() + b'\0'
    for r in rcpts:
        e += b'T' + r.encode() + b'\0'
    return e + b'\0'


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        path = inst.path('run/queue.sock')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(path)
        ids = []
        for i in range(3):
            rep = inject(s, b'Subject: d%d\r\n\r\nbody %d\r\n' % (i, i),
                         env('a@example.com', 'r%d@example.org' % i))
            check('inject %d: status=0 with an id' % i,
                  rep and rep.get('status') == '0' and rep.get('id'), repr(rep))
            if rep and rep.get('id'):
                ids.append(rep['id'])
        check('three distinct ids', len(set(ids)) == 3, repr(ids))
        check('all three delivered', sink.wait_for(3, 30), inst.log_tail())
        subjects = sorted(m.data.split(b'Subject: ')[1][:2] for m in sink.messages)
        check('the right messages', subjects == [b'd0', b'd1', b'd2'],
              repr(subjects))
        check('Received names the client',
              all(m.data.startswith(b'Received: from daemon.test ([127.0.0.1])')
                  for m in sink.messages), repr(sink.messages[:1]))
        rep = inject(s, b'Subject: x\r\n\r\nx\r\n', b'Fa@example.com\0\0')
        check('no recipients: status=100', rep and rep.get('status') == '100',
              repr(rep))
        n_new = inst.queue_count()
        rep = inject(s, b'Subject: half\r\n\r\npartial', None)
        check('aborted DATA: status=100', rep and rep.get('status') == '100',
              repr(rep))
        check('aborted DATA: nothing queued', inst.queue_count() <= n_new and
              inst.queue_count('tmp') == 0)
        rep = inject(s, b'Subject: after\r\n\r\nstill works\r\n',
                     env('a@example.com', 'after@example.org'))
        check('connection still usable after refusals',
              rep and rep.get('status') == '0', repr(rep))
        s.sendall(b'garbage that is not a netstring')
        try:
            gone = s.recv(100) == b''
        except OSError:
            gone = True
        check('garbage drops the connection', gone)
        s.close()
        if is_root():
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    c.settimeout(10)
                    c.connect(path)
                    rep = inject(c, b'x\r\n', env('a@example.com', 'x@example.org'))
                    code = 0 if rep is None else 2
                except OSError:
                    code = 0
                os._exit(code)
            _, st = os.waitpid(pid, 0)
            check('a peer uid that is not allowed is refused',
                  os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0 and
                  inst.wait_log(r'queue.sock: peer refused', 10), inst.log_tail())
        else:
            skip('peer uid check', 'needs root')
        check('relay-queue still running', inst.wait_log(r'to=<after@example.org>.*status=sent', 20),
              inst.log_tail())
    finish()


if __name__ == '__main__':
    main()
