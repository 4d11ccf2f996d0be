#!/usr/bin/python3
"""test_tls_stall.py: in a relay-smtpd worker serving many sessions at
once (smtpd_sessions_per_worker), a TLS client that stops half-way never
holds up another session of the same worker.

One worker (smtpd_workers_min=1) holds clients that stopped: after
STARTTLS's 220 (nothing sent), after half a ClientHello (STARTTLS and
implicit TLS), after a whole ClientHello (the server's flight unanswered:
no Finished), on implicit TLS before any byte, inside TLS after half a
record, and inside TLS not reading the replies to what it sent (the
worker's write to it waits).  While they wait, fresh clients on the same
worker complete a plain transaction and a STARTTLS + AUTH PLAIN
transaction, each within 1 s, and the stopped ones are still connected
(cut by their own deadline, not by the others)."""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Raw, Sink, finish, free_port,  # noqa: E402
                     wait_until)
from harness import check as _check  # noqa: E402
from test_smtpd_protocol import (PASSWORD, USER, ehlo, make_tls,  # noqa: E402
                                 password_hash, rules, starttls)
from test_smtpd_pool import session_pid  # noqa: E402


def check(name, cond, detail=''):
    return _check(name, cond, detail if isinstance(detail, str) else repr(detail))


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Bio:
    """TLS over memory buffers on raw's socket: what goes on the wire
    is ours to cut short."""

    def __init__(self, raw):
        self.raw = raw
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = client_ctx().wrap_bio(self.inc, self.out,
                                         server_hostname='relaybox.test')

    def client_hello(self):
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    def finish_handshake(self, hello):
        """Send hello, then pump until the handshake is done."""
        self.raw.send(hello)
        while True:
            try:
                self.tls.do_handshake()
                self.raw.send(self.out.read())
                return
            except ssl.SSLWantReadError:
                self.raw.send(self.out.read())
                self.inc.write(self.raw.s.recv(65536))

    def record(self, data):
        self.tls.write(data)
        return self.out.read()


def plain_started(port):
    """A session past EHLO and STARTTLS's 220."""
    r = Raw(port, timeout=5)
    r.reply()
    ehlo(r)
    code, _ = r.cmd(b'STARTTLS\r\n')
    return r, code


def stoppers(inst, tport):
    """Clients stopped at each place; (name, Raw) pairs."""
    out = []
    r, code = plain_started(inst.port)
    check('STARTTLS 220 before stopping', code == 220, code)
    out.append(('nothing after STARTTLS 220', r))
    r, _ = plain_started(inst.port)
    hello = Bio(r).client_hello()
    r.send(hello[:len(hello) // 2])
    out.append(('half a ClientHello (STARTTLS)', r))
    r, _ = plain_started(inst.port)
    r.send(Bio(r).client_hello())
    out.append(('no Finished after the server flight', r))
    out.append(('implicit TLS, no byte', Raw(tport, timeout=5)))
    r = Raw(tport, timeout=5)
    hello = Bio(r).client_hello()
    r.send(hello[:len(hello) // 2])
    out.append(('half a ClientHello (implicit)', r))
    r, _ = plain_started(inst.port)
    b = Bio(r)
    b.finish_handshake(b.client_hello())
    rec = b.record(b'EHLO stopped.example.com\r\n')
    r.send(rec[:len(rec) // 2])
    out.append(('half a TLS record', r))
    out.append(('not reading its replies (TLS)', unread_tls(inst)))
    return out


def unread_tls(inst):
    """In TLS, 9000 pipelined RSETs and no read: with a small receive
    buffer the replies (135 KB) fill the connection, so the worker's
    write to it has to wait."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.bind(('127.0.0.1', 0))
    s.connect(('127.0.0.1', inst.port))
    r = Raw.__new__(Raw)
    r.s, r.buf = s, b''
    r.reply()
    ehlo(r)
    r.cmd(b'STARTTLS\r\n')
    starttls(r)
    ehlo(r)
    r.s.sendall(b'RSET\r\n' * 9000)
    return r


def send_queue(r):
    """Bytes the relay has queued to send to client r (ss's Send-Q)."""
    out = ss_relay_end(r)
    return int(out[1]) if len(out) > 1 else 0


def timed(fn, inst):
    """fn(inst), a failure (a stalled worker times the client out) as
    (None, None)."""
    try:
        return fn(inst)
    except (OSError, EOFError, ssl.SSLError) as e:
        print('client failed: %r' % e)
        return None, None


def message(r, sender):
    """MAIL, RCPT, DATA and a short message: all answered as they should."""
    return r.cmd(b'MAIL FROM:<%s>\r\n' % sender)[0] == 250 and \
        r.cmd(b'RCPT TO:<x@example.org>\r\n')[0] == 250 and \
        r.cmd(b'DATA\r\n')[0] == 354 and \
        r.cmd(b'Subject: fresh\r\n\r\nbody\r\n.\r\n')[0] == 250


def fresh(inst, tls):
    """A whole transaction, with STARTTLS and AUTH PLAIN when tls;
    (seconds, worker pid), seconds None when a step failed."""
    t0 = time.monotonic()
    r = Raw(inst.port, timeout=5)
    r.reply()
    pid = session_pid(inst, r)
    ok = ehlo(r)[0] == 250
    if tls:
        ok = ok and r.cmd(b'STARTTLS\r\n')[0] == 220
        starttls(r)
        plain = base64.b64encode(b'\0' + USER.encode() + b'\0' +
                                 PASSWORD.encode())
        ok = ok and ehlo(r)[0] == 250 and \
            r.cmd(b'AUTH PLAIN ' + plain + b'\r\n')[0] == 235
    ok = ok and message(r, b'b@example.com' if tls else b'a@example.com')
    took = time.monotonic() - t0
    r.close()
    return (took if ok else None), pid


def fresh_plain(inst):
    return fresh(inst, False)


def fresh_tls_auth(inst):
    return fresh(inst, True)


def ss_relay_end(r):
    """ss's fields for the relay's end of client r's connection while it
    is established (the relay has not closed it), else []."""
    return subprocess.run(['ss', '-tnH', 'state', 'established', 'sport',
                           '=', ':%d' % r.s.getpeername()[1], 'dport', '=',
                           ':%d' % r.s.getsockname()[1]],
                          stdout=subprocess.PIPE, text=True).stdout.split()


def main():
    tmp = tempfile.mkdtemp(prefix='relaybox-tls-stall-')
    os.chmod(tmp, 0o755)
    tport = free_port()
    try:
        cert, key = make_tls(tmp)
        conf = {'tls_cert': cert, 'tls_key': key,
                'listen_tls': '127.0.0.1:%d' % tport,
                'smtpd_sessions_per_worker': 1000, 'smtpd_workers_min': 1,
                'smtp_timeout': 60}
        with Sink() as sink, Instance(conf_overrides=conf, sink=sink,
                                      rules_text=rules(password_hash())) as inst:
            # the worker's certificate context is built by a first TLS
            # session, not by the ones measured
            fresh_tls_auth(inst)
            try:
                stopped = stoppers(inst, tport)
            except (OSError, EOFError, ssl.SSLError) as e:
                check('clients stopped at each place (a stalled worker '
                      'answers none after the first)', False, repr(e))
                stopped = []
            pids = {session_pid(inst, r) for _, r in stopped}
            # log lines are kept and written together, and as soon as a
            # client makes its session wait: the one stopped in TLS too
            check('a TLS session that waits has its lines written',
                  wait_until(lambda: inst.log().count(': TLS TLSv1') >= 2,
                             3), inst.log_tail(10))
            time.sleep(0.5)
            if stopped:
                check('the worker has replies queued for the client that '
                      'does not read (its write waits)',
                      send_queue(stopped[-1][1]) > 0)
            for name, fn in (('plain', fresh_plain),
                             ('STARTTLS + AUTH', fresh_tls_auth)):
                for _ in range(2):
                    took, pid = timed(fn, inst)
                    check('%s transaction done within 1 s while %d TLS '
                          'clients stand still' % (name, len(stopped)),
                          took is not None and took < 1.0, repr(took))
                    check('%s: on the worker that holds them' % name,
                          pid is not None and pids == {pid}, (pid, pids))
            for name, r in stopped:
                check('still connected: %s' % name, ss_relay_end(r) != [])
                r.close()
            log = inst.log()
            check('nothing crashed', 'AddressSanitizer' not in log and
                  'runtime error' not in log, log[-1500:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
