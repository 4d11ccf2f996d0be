#!/usr/bin/python3
"""test_queue_header_max.py: an envelope under relay-queue's limit
(QUEUE_ENV_MAX, 32 MiB) whose queue-file header would be over the
readers' limit (QFILE_HEADER_MAX, 32 MiB): a queue-file header line is
longer than its envelope field ("rcpt=" for "T", "dsn_rcpt=<index> " for
"N"), so 44,000 long recipients with ORCPTs grow past it.  relay-queue
must refuse it (status=100 reason=toobig: relay-smtpd's 552), never
answer status=0 for a file relay-send cannot read (it would never be
delivered, bounced or listed).  Nothing is left in new/ or tmp/, and the
next injection on the same connection is queued and delivered."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, queue_inject  # noqa: E402

LIMIT = 32 * 1024 * 1024        # QUEUE_ENV_MAX and QFILE_HEADER_MAX


def big_envelope():
    """Just under LIMIT bytes; its header expands past LIMIT."""
    local = 'a' * 64
    dom = '.'.join(['b' * 63, 'c' * 63, 'd' * 57]) + '.org'
    orcpt = 'rfc822;' + 'a' * 480 + '@b.org'
    one = ('T%s@%s\0NNEVER %s\0' % (local, dom, orcpt)).encode()
    n = (LIMIT - 100) // len(one)
    return b'Fx@example.com\0' + one * n + b'\0', n


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        env, n = big_envelope()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect(inst.path('run/queue.sock'))
        rep = queue_inject(s, b'Subject: big header\r\n\r\nx\r\n', env)
        check('%d bytes of envelope, %d recipients: status=100 toobig' %
              (len(env), n), rep and rep.get('status') == '100' and
              rep.get('reason') == 'toobig', repr(rep))
        rep = queue_inject(s, b'Subject: after\r\n\r\nx\r\n',
                           b'Fa@example.com\0Tb@example.org\0\0')
        check('the next injection: status=0',
              rep and rep.get('status') == '0', repr(rep))
        check('and it is delivered', sink.wait_for(1, 30), inst.log_tail())
        check('nothing left in new/ or tmp/', inst.wait_queue_empty(30) and
              inst.queue_count('tmp') == 0,
              repr(os.listdir(inst.path('queue/new'))) + inst.log_tail(5))
        s.close()
    finish()


if __name__ == '__main__':
    main()
