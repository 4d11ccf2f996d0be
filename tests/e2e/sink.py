#!/usr/bin/python3
"""sink.py: a real receiving SMTP server for relaybox's end-to-end tests.

Importable (tests/e2e/harness.py re-exports it):

    from sink import Sink
    with Sink() as s:                      # aiosmtpd on 127.0.0.1:<free port>
        ... point the relay at s.port ...
        s.wait_for(3, timeout=30)          # True when >= 3 messages arrived
        m = s.messages[0]                  # SinkMessage: mail_from, rcpts,
                                           #   data (bytes as received, dot-
                                           #   unstuffed, CRLF), peer
        s.connections                      # connections accepted so far

Scripted answers:
    Sink(codes={'bad@example.org': 550})             every RCPT to it: 550
    Sink(codes={'slow@example.org': [451, 451, 250]}) per attempt: 451, 451,
                                                     then 250 (last repeats)
    Sink(codes={'x@example.org': '550 5.1.1 gone'})  that reply line itself
    Sink(data_codes=[451, 250])                      per DATA: 451 then 250
    Sink(tls_cert=..., tls_key=...)                  offers STARTTLS
    Sink(auth={'user': 'pass'})                      AUTH PLAIN/LOGIN required
    Sink(dir=D)                                      also writes D/N.eml + N.json

Standalone (shell tests, the benchmark):
    /usr/bin/python3 tests/e2e/sink.py --port N [--host 127.0.0.1] [--dir D]
prints "sink listening on HOST:PORT" and runs until SIGTERM/SIGINT; with
--dir, each message is D/<n>.eml with D/<n>.json (envelope) beside it.
"""
import argparse
import atexit
import asyncio
import json
import os
import random
import signal
import socket
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


# Test servers take ports below the kernel's ephemeral range, so that no
# client socket of a test running beside can be holding one (a listener
# on 127.0.0.2:P fails while a connection from 127.0.0.2:P exists), and
# reserve each in _PORT_DIR for as long as the process lives, so that two
# tests never pick the same port between choosing and binding it.
_PORT_DIR = '/tmp/relaybox-test-ports'
_ports_held = []


def _port_range():
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (10000, low - 1) if low > 12000 else (low // 2, low - 1)


def _reserve(port):
    """True when this process now holds port's reservation."""
    path = os.path.join(_PORT_DIR, str(port))
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    pid = int(f.read() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and os.path.exists('/proc/%d' % pid):
                return False
            try:  # its owner is gone
                os.unlink(path)
            except OSError:
                pass
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        if not _ports_held:
            atexit.register(_release_ports)
        _ports_held.append(path)
        return True
    return False


def _release_ports():
    for path in _ports_held:
        try:
            os.unlink(path)
        except OSError:
            pass


def _bindable(host, port):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    try:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, port))
        return True
    except OSError:
        return False


def free_port(host='127.0.0.1'):
    """A TCP port free on host and on 127.0.0.1, outside the ephemeral
    range and reserved for this process (see _PORT_DIR above)."""
    os.makedirs(_PORT_DIR, exist_ok=True)
    try:
        os.chmod(_PORT_DIR, 0o1777)
    except OSError:
        pass
    low, high = _port_range()
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(low, high)
        if (_bindable(host, port) and _bindable('127.0.0.1', port) and
                _reserve(port)):
            return port
    with socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET,
                       socket.SOCK_STREAM) as s:
        s.bind((host, 0))  # every try was taken: the old way
        return s.getsockname()[1]


class SinkMessage:
    def __init__(self, mail_from, rcpts, data, peer, tls):
        self.mail_from = mail_from
        self.rcpts = list(rcpts)
        self.data = data
        self.peer = peer
        self.tls = tls
        self.time = time.time()

    def __repr__(self):
        return 'SinkMessage(from=%r, rcpts=%r, %d bytes)' % (
            self.mail_from, self.rcpts, len(self.data))


def _code_text(code):
    texts = {250: '2.1.5 OK', 450: '4.2.0 try again later',
             451: '4.3.0 try again later', 452: '4.3.1 insufficient storage',
             550: '5.1.1 no such user', 552: '5.3.4 too big',
             554: '5.7.1 rejected'}
    if isinstance(code, str):  # a whole reply line, as scripted
        return code
    return '%d %s' % (code, texts.get(code, 'scripted reply'))


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, options):
        code = self.sink._next_code(self.sink.codes, address.lower())
        if code != 250:
            return _code_text(code)
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        code = self.sink._next_code({'': self.sink.data_codes}, '')
        if code != 250:
            return _code_text(code)
        tls = session.ssl is not None
        msg = SinkMessage(envelope.mail_from, envelope.rcpt_tos,
                          bytes(envelope.original_content), session.peer, tls)
        msg.dsn = getattr(envelope, 'dsn', None)  # dsnsink.py's record
        self.sink._store(msg)
        return '250 2.0.0 Ok: queued'


class SlowHandler(_Handler):
    """The handler with sink.delay s in DATA, counting in sink.busy how
    many transactions are in DATA at once and in sink.peak the most:
    set sink.busy, sink.peak, sink.delay and then sink._Handler to it
    (tests of slow destinations)."""

    async def handle_DATA(self, server, session, envelope):
        with self.sink.lock:
            self.sink.busy += 1
            self.sink.peak = max(self.sink.peak, self.sink.busy)
        try:
            await asyncio.sleep(self.sink.delay)
            return await super().handle_DATA(server, session, envelope)
        finally:
            with self.sink.lock:
                self.sink.busy -= 1


class _Controller(Controller):
    def __init__(self, sink, *args, **kwargs):
        self.sink = sink
        super().__init__(*args, **kwargs)

    def factory(self):
        with self.sink.lock:
            self.sink.connections += 1
        return super().factory()


class Sink:
    # None: the module's _Handler and _Controller as they are at start
    # (a test may replace them); dsnsink.DsnSink sets its own
    handler_class = None
    controller_class = None

    def __init__(self, codes=None, data_codes=None, tls_cert=None,
                 tls_key=None, auth=None, dir=None, host='127.0.0.1',
                 port=None):
        self.codes = {k.lower(): v for k, v in (codes or {}).items()}
        self.data_codes = data_codes if data_codes is not None else 250
        self.auth = auth
        self.dir = dir
        self.host = host
        self.auto_port = not port
        self.port = port or free_port(host)
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.messages = []
        self.connections = 0
        self.attempts = {}           # address (or '' for DATA) -> count
        self.tls_context = None
        if tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tls_cert, tls_key)
            self.tls_context = ctx
        self.controller = None

    # scripted codes: an int, or a list consumed per attempt (last repeats)
    def _next_code(self, table, key):
        spec = table.get(key, 250)
        with self.lock:
            n = self.attempts.get(key, 0)
            self.attempts[key] = n + 1
        if isinstance(spec, (int, str)):
            return spec
        return spec[min(n, len(spec) - 1)] if spec else 250

    def _store(self, msg):
        with self.lock:
            self.messages.append(msg)
            n = len(self.messages)
            self.arrived.notify_all()
        if self.dir:
            base = os.path.join(self.dir, '%06d' % n)
            with open(base + '.eml.tmp', 'wb') as f:
                f.write(msg.data)
            with open(base + '.json', 'w') as f:
                json.dump({'from': msg.mail_from, 'rcpts': msg.rcpts,
                           'peer': list(msg.peer), 'tls': msg.tls}, f)
            os.rename(base + '.eml.tmp', base + '.eml')

    def _authenticator(self, server, session, envelope, mechanism, data):
        ok = (data is not None and hasattr(data, 'login') and
              self.auth.get(data.login.decode(errors='replace')) ==
              data.password.decode(errors='replace'))
        # handled=False: aiosmtpd answers 535 itself on a failure
        return AuthResult(success=ok, handled=False, auth_data=data)

    def start(self):
        if self.dir:
            os.makedirs(self.dir, exist_ok=True)
        kw = dict(hostname=self.host, port=self.port, decode_data=False,
                  enable_SMTPUTF8=True, data_size_limit=None,
                  ready_timeout=10)
        if self.tls_context:
            kw['tls_context'] = self.tls_context
        if self.auth is not None:
            kw['authenticator'] = self._authenticator
            kw['auth_required'] = True
            kw['auth_require_tls'] = self.tls_context is not None
        for attempt in range(3):
            kw['port'] = self.port
            self.controller = (self.controller_class or _Controller)(
                self, (self.handler_class or _Handler)(self), **kw)
            try:
                self.controller.start()
                break
            except Exception:
                # the free port was taken meanwhile (tests run in parallel)
                self.controller = None
                if not self.auto_port or attempt == 2:
                    raise
                self.port = free_port(self.host)
        with self.lock:
            # Controller.start() connects once to check it is up
            self.connections = 0
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def count(self):
        with self.lock:
            return len(self.messages)

    def wait_for(self, n, timeout=30):
        """True once at least n messages arrived, False after timeout s."""
        deadline = time.time() + timeout
        with self.lock:
            while len(self.messages) < n:
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.arrived.wait(min(left, 0.5))
            return True

    def wait_rcpts(self, prefix, n, timeout=30):
        """Wait until n recipients starting with prefix arrived, at most
        timeout s; how many did."""
        def count():
            with self.lock:
                return sum(1 for m in self.messages for r in m.rcpts
                           if r.startswith(prefix))
        deadline = time.time() + timeout
        while time.time() < deadline and count() < n:
            time.sleep(0.1)
        return count()

    def recipients(self):
        """Every (recipient, message) pair received, in order."""
        with self.lock:
            return [(r, m) for m in self.messages for r in m.rcpts]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--dir')
    a = ap.parse_args()
    # handlers first: a caller may signal as soon as it reads the banner
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sink = Sink(dir=a.dir, host=a.host, port=a.port).start()
    print('sink listening on %s:%d' % (a.host, a.port), flush=True)
    while not stop.wait(1):
        pass
    sink.stop()
    print('sink stopped after %d messages, %d connections' %
          (sink.count(), sink.connections), flush=True)


if __name__ == '__main__':
    main()
