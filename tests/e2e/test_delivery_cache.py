#!/usr/bin/python3
"""test_delivery_cache.py: relay-send's job placement.  With
dest_concurrency 1, jobs for one destination run one at a time, and each
goes to the worker that served that destination last, so relay-remote's
cached connection carries them all: 15 messages, one SMTP connection.
With the default concurrency they spread over several workers."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish  # noqa: E402
from test_queue_daemon import env, inject  # noqa: E402

N = 15


def run(conf):
    with Sink() as sink, Instance(sink=sink, conf_overrides=conf) as inst:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(inst.path('run/queue.sock'))
        for i in range(N):
            rep = inject(s, b'Subject: c%d\r\n\r\nx\r\n' % i,
                         env('a@example.com', 'r%d@example.org' % i))
            if not rep or rep.get('status') != '0':
                check('inject %d' % i, False, repr(rep))
        s.close()
        ok = sink.wait_for(N, 60) and inst.wait_queue_empty(20)
        return ok, sink.connections, inst.log_tail()


ok, conns, log = run({'dest_concurrency': 1, 'remote_workers': 4,
                      'conn_cache_max': 100, 'conn_cache_idle': 30})
check('concurrency 1: all delivered', ok, log)
check('concurrency 1: one destination, one cached connection',
      conns == 1, '%d connections\n%s' % (conns, log))
ok, conns, log = run({'remote_workers': 4, 'conn_cache_max': 100,
                      'conn_cache_idle': 30})
check('default concurrency: all delivered', ok, log)
check('default concurrency: at most one connection per worker',
      1 <= conns <= 4, '%d connections' % conns)
print('# default concurrency used %d connections' % conns)
finish()
