#!/usr/bin/python3
"""latencyproxy.py: a TCP proxy to a test's redis-server on 127.0.0.1 that
holds every chunk from Redis `delay` seconds before passing it on, as a
Redis one WAN round trip away would, without serialising a pipeline (a
chunk read at t goes out at t + delay, whatever came before it).  down()
drops every connection and closes new ones at once (Redis out of reach,
fast failures), up() lets them through again.  close() (or the with
block) stops it.

    with LatencyProxy(redis.port, 0.03) as px:
        px.url()         # redis://127.0.0.1:PORT/3
        px.down(); px.up()
"""
import collections
import socket
import threading
import time

from sink import free_port


class LatencyProxy:
    def __init__(self, target_port, delay):
        self.target_port, self.delay = target_port, delay
        self.port = free_port('127.0.0.1')
        self.lock = threading.Lock()
        self.socks = []
        self.refuse = False
        self.closed = False
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(('127.0.0.1', self.port))
        self.ls.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, db=3):
        return 'redis://127.0.0.1:%d/%d' % (self.port, db)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            if self.refuse:
                c.close()
                continue
            try:
                u = socket.create_connection(('127.0.0.1', self.target_port),
                                             5)
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.socks += [c, u]
            threading.Thread(target=self._pipe, args=(c, u),
                             daemon=True).start()
            self._delayed(u, c)

    @staticmethod
    def _shut(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pipe(self, a, b):
        """a -> b as it comes (the commands)."""
        try:
            while True:
                x = a.recv(65536)
                if not x:
                    break
                b.sendall(x)
        except OSError:
            pass
        self._shut(a, b)

    def _delayed(self, a, b):
        """a -> b, each chunk held self.delay: a reader and a writer
        thread with a queue of (when due, chunk) between them."""
        q = collections.deque()
        cv = threading.Condition()

        def reader():
            try:
                while True:
                    x = a.recv(65536)
                    with cv:
                        q.append((time.monotonic() + self.delay, x))
                        cv.notify()
                    if not x:
                        return
            except OSError:
                with cv:
                    q.append((0, b''))
                    cv.notify()

        def writer():
            try:
                while True:
                    with cv:
                        while not q:
                            cv.wait(1)
                        due, x = q.popleft()
                    if not x:
                        break
                    time.sleep(max(0, due - time.monotonic()))
                    b.sendall(x)
            except OSError:
                pass
            self._shut(a, b)
        threading.Thread(target=reader, daemon=True).start()
        threading.Thread(target=writer, daemon=True).start()

    def down(self):
        self.refuse = True
        with self.lock:
            socks, self.socks = self.socks, []
        self._shut(*socks)
        for s in socks:
            s.close()

    def up(self):
        self.refuse = False

    def close(self):
        self.closed = True
        self.down()
        self.ls.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
