#!/usr/bin/python3
"""test_tls.py: TLS on the receiving side, end to end.  A test CA made
here (certs.py) signs the relay's certificate; the relay listens for
STARTTLS on its plain port and for implicit TLS on a listen_tls port.

Shows: STARTTLS advertised before TLS and not after; clients that verify
the chain and the name (relaybox.test) accept the certificate; Python
smtplib starttls() and SMTP_SSL, swaks --tls and --tlsc all relay a
message that arrives at the sink; the Received header records the TLS
version and cipher; TLS 1.1 is refused, TLS 1.2 gets an ECDHE AEAD suite;
the STARTTLS injection probe (STARTTLS\\r\\nRSET\\r\\n in one write) gets no
answer to the RSET; a client that sends garbage instead of a ClientHello
costs only its own session; STARTTLS twice is refused."""
import os
import re
import socket
import ssl
import smtplib
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Raw, Sink, finish, free_port,  # noqa: E402
                     smtp_session, swaks)
from certs import TestCerts, check, wait_tag  # noqa: E402

FROM = 'sender@example.com'
TO = 'someone@example.org'
RECEIVED_TLS = re.compile(
    rb'^Received: .*?with ESMTPS?A? \((TLSv1\.[23]) ([A-Z0-9_-]+) (\d+)\)',
    re.S | re.M)


def msg(tag):
    return (b'From: <sender@example.com>\r\nTo: <someone@example.org>\r\n'
            b'Subject: ' + tag.encode() + b'\r\n'
            b'Message-ID: <' + tag.encode() + b'@tls.test>\r\n\r\n'
            b'body of ' + tag.encode() + b'\r\n')




def check_received(name, m):
    """The relay's Received header names the TLS version and cipher."""
    got = RECEIVED_TLS.search(m.data) if m else None
    check(name + ': Received records TLS version and cipher', got,
          m.data[:400] if m else 'no message')
    return got


def ehlo_keywords(c):
    c.ehlo('client.example.com')
    return {k.upper() for k in c.esmtp_features}


def test_starttls_smtplib(inst, sink, certs):
    with smtp_session(inst.port) as c:
        kw = ehlo_keywords(c)
        check('plain EHLO advertises STARTTLS', 'STARTTLS' in kw, kw)
        code, _ = c.starttls(context=certs.client_context())
        check('STARTTLS 220 and a verified handshake (CA + name)',
              code == 220)
        check('session is TLS 1.2 or 1.3',
              c.sock.version() in ('TLSv1.2', 'TLSv1.3'), c.sock.version())
        kw = ehlo_keywords(c)
        check('EHLO after TLS does not offer STARTTLS again',
              'STARTTLS' not in kw, kw)
        code, _ = c.docmd('STARTTLS')
        check('STARTTLS inside TLS refused (503)', code == 503, code)
        c.sendmail(FROM, [TO], msg('starttls-smtplib'))
    m = wait_tag(sink, 'starttls-smtplib')
    check('smtplib starttls: message arrives', m is not None)
    got = check_received('smtplib starttls', m)
    if got:
        check('Received: ESMTPS and a 128+ bit cipher',
              b'with ESMTPS ' in m.data and int(got.group(3)) >= 128,
              got.group(0))


def test_implicit_smtplib(inst, sink, certs, tport):
    ctx = certs.client_context()
    with smtplib.SMTP_SSL('127.0.0.1', tport, context=ctx, timeout=60,
                          source_address=('127.0.0.1', 0)) as c:
        # SMTP_SSL verifies against the host it connects to: the
        # certificate carries IP:127.0.0.1 as well as relaybox.test
        kw = ehlo_keywords(c)
        check('implicit TLS: no STARTTLS offered', 'STARTTLS' not in kw, kw)
        c.sendmail(FROM, [TO], msg('implicit-smtplib'))
    m = wait_tag(sink, 'implicit-smtplib')
    check('SMTP_SSL (implicit TLS): message arrives', m is not None)
    check_received('SMTP_SSL', m)
    # by name, with SNI
    raw = socket.create_connection(('127.0.0.1', tport), timeout=30)
    s = ctx.wrap_socket(raw, server_hostname='relaybox.test')
    banner = s.recv(512)
    check('implicit TLS verified by name relaybox.test, banner 220',
          banner.startswith(b'220 '), banner)
    s.close()


def test_swaks(inst, sink, tport):
    r = swaks('--server', '127.0.0.1', '--port', inst.port, '--tls',
              '--from', FROM, '--to', TO, '--helo', 'client.example.com',
              '--header', 'Message-ID: <swaks-tls@tls.test>')
    check('swaks --tls exits 0', r.returncode == 0, r.stdout[-800:])
    check('swaks --tls: TLS started', 'TLS started' in r.stdout,
          r.stdout[-800:])
    check_received('swaks --tls', wait_tag(sink, 'swaks-tls'))
    r = swaks('--server', '127.0.0.1', '--port', tport, '--tlsc',
              '--from', FROM, '--to', TO, '--helo', 'client.example.com',
              '--header', 'Message-ID: <swaks-tlsc@tls.test>')
    check('swaks --tlsc (implicit TLS) exits 0', r.returncode == 0,
          r.stdout[-800:])
    check_received('swaks --tlsc', wait_tag(sink, 'swaks-tlsc'))


def handshake(port, ctx, starttls=True):
    """Connect, STARTTLS when asked, shake hands; the SSL socket."""
    raw = socket.create_connection(('127.0.0.1', port), timeout=30)
    if starttls:
        f = raw.makefile('rb')
        f.readline()
        raw.sendall(b'EHLO client.example.com\r\n')
        while True:
            line = f.readline()
            if line[3:4] != b'-':
                break
        raw.sendall(b'STARTTLS\r\n')
        f.readline()
    return ctx.wrap_socket(raw, server_hostname='relaybox.test')


def test_versions(inst, tport, certs):
    ctx = certs.client_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    s = handshake(inst.port, ctx)
    name, ver, bits = s.cipher()
    check('TLS 1.2: forward secret AEAD suite (%s)' % name,
          ver == 'TLSv1.2' and name.startswith(('ECDHE-', 'DHE-')) and
          ('GCM' in name or 'CHACHA20' in name), s.cipher())
    s.close()
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    warnings.simplefilter('ignore', DeprecationWarning)  # TLS 1.0/1.1 on purpose
    try:
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers('ALL:@SECLEVEL=0')
    except (ValueError, ssl.SSLError):
        pass
    for label, port, st in (('STARTTLS', inst.port, True),
                            ('implicit', tport, False)):
        try:
            s = handshake(port, old, starttls=st)
            check('TLS 1.1 refused (%s)' % label, False, s.version())
            s.close()
        except (ssl.SSLError, OSError):
            check('TLS 1.1 refused (%s)' % label, True)


def test_injection(inst):
    """CVE-2011-0411: plaintext pipelined after STARTTLS must be dropped."""
    r = Raw(inst.port)
    r.reply()
    code, _ = r.cmd(b'EHLO client.example.com\r\n')
    r.send(b'STARTTLS\r\nRSET\r\n')
    code, _ = r.reply()
    check('injection probe: 220 to STARTTLS', code == 220, code)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(r.s, server_hostname='relaybox.test')
    s.settimeout(1.5)
    try:
        early = s.recv(4096)
    except (socket.timeout, TimeoutError):
        early = b''
    except ssl.SSLError as e:
        early = repr(e).encode()
    check('injection probe: no answer to the injected RSET', early == b'',
          early)
    s.settimeout(30)
    s.sendall(b'EHLO client.example.com\r\n')
    buf = b''
    while not re.search(rb'(^|\r\n)\d{3} [^\r\n]*\r\n$', buf):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    check('injection probe: first reply in TLS is the EHLO (250-)',
          buf.startswith(b'250-'), buf[:200])
    s.close()


def test_garbage(inst):
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO client.example.com\r\n')
    code, _ = r.cmd(b'STARTTLS\r\n')
    r.send(b'this is not a TLS ClientHello\r\n' * 4)
    r.s.settimeout(15)
    try:
        rest = r.s.recv(4096)
    except OSError:
        rest = b''
    check('garbage instead of ClientHello: session closed',
          code == 220 and not rest.startswith(b'250'), (code, rest[:80]))
    r.close()
    with smtp_session(inst.port) as c:
        check('relay still serves after the bad handshake',
              c.noop()[0] == 250)
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO client.example.com\r\n')
    code, _ = r.cmd(b'STARTTLS now\r\n')
    check('STARTTLS with an argument: 501', code == 501, code)
    r.close()


def main():
    tport = free_port()
    with TestCerts() as certs, Sink() as sink:
        conf = certs.conf()
        conf['listen_tls'] = '127.0.0.1:%d' % tport
        with Instance(conf_overrides=conf, sink=sink) as inst:
            for t in (lambda: test_starttls_smtplib(inst, sink, certs),
                      lambda: test_implicit_smtplib(inst, sink, certs, tport),
                      lambda: test_swaks(inst, sink, tport),
                      lambda: test_versions(inst, tport, certs),
                      lambda: test_injection(inst),
                      lambda: test_garbage(inst)):
                try:
                    t()
                except Exception as e:  # one broken step must not hide the rest
                    check('step ran without exception', False,
                          '%s: %r' % (type(e).__name__, e))
            check('log has TLS lines with version and cipher',
                  inst.wait_log(r'TLS TLSv1\.[23] \S+ \d+', 5),
                  inst.log_tail(20))
    finish()


if __name__ == '__main__':
    main()
