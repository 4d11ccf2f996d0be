#!/usr/bin/python3
"""fakescan.py: a fake rspamd on loopback, for what the real one cannot be
made to do on demand: be slow, or answer something odd.

    with FakeScan(delay=3) as f:   # f.addr = '127.0.0.1:PORT'
        ...                        # f.order: the envelope senders, in
                                   #   the order their scans arrived
                                   # f.peak: most scans at once

Each request (POST /checkv2, HTTP/1.0) is read whole; after delay seconds
the answer is body (a clean verdict by default).  Every scan runs on a
thread of its own; stop() (or leaving the with block) closes the
listener and the connections still open."""
import json
import socket
import threading

CLEAN = json.dumps({'score': 0.5, 'required_score': 15,
                    'action': 'no action', 'symbols': {}}).encode()


class FakeScan:
    def __init__(self, delay=0.0, body=CLEAN):
        self.delay, self.body = delay, body
        self.order, self.peak, self.active = [], 0, 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.conns = []
        self.s = socket.socket()
        self.s.bind(('127.0.0.1', 0))
        self.s.listen(256)
        self.s.settimeout(0.2)
        self.addr = '127.0.0.1:%d' % self.s.getsockname()[1]
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _accept(self):
        while not self.done.is_set():
            try:
                c, _ = self.s.accept()
            except OSError:
                continue
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    @staticmethod
    def _request(c):
        """(headers as {lowercase name: value}, body) or None."""
        data = b''
        c.settimeout(30)
        for _ in range(100000):
            if b'\r\n\r\n' in data:
                break
            d = c.recv(65536)
            if not d:
                return None
            data += d
        head, body = data.split(b'\r\n\r\n', 1)
        hdrs = {}
        for line in head.split(b'\r\n')[1:]:
            k, _, v = line.partition(b':')
            hdrs[k.strip().lower().decode()] = v.strip().decode(
                errors='replace')
        want = int(hdrs.get('content-length', '0'))
        for _ in range(100000):
            if len(body) >= want:
                break
            d = c.recv(65536)
            if not d:
                break
            body += d
        return hdrs, body

    def _one(self, c):
        try:
            req = self._request(c)
            if req is None:
                return
            with self.lock:
                self.order.append(req[0].get('from', ''))
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                self.done.wait(self.delay)
                c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n'
                          % len(self.body) + self.body)
            finally:
                with self.lock:
                    self.active -= 1
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.done.set()
        self.t.join()
        self.s.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass
