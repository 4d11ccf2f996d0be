#!/usr/bin/python3
"""test_delivery_route_tls_wrap.py: a relay.rules route with tls_wrap=yes
(implicit TLS, RFC 8314 section 3) through the whole instance: makecdb
compiles it, relay-send finds it and passes it on, relay-remote does the
handshake first.  A route to an implicit-TLS server with auth= delivers
over TLS with AUTH, the certificate verified under relay.conf's tls_ca
(tls=verify is tls_wrap's default), and the delivery log line shows the
TLS and "implicit"; a route with tls_wrap=yes to a plain-text server
defers (4.7.5, naming the host), and that server gets no SMTP command.
"""
import os
import pwd
import re
import shutil
import ssl
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEFAULT_RULES, Instance, check, finish, free_port  # noqa: E402
from test_delivery import inject, wait  # noqa: E402
from test_remote_tls import make_ca  # noqa: E402
from test_remote_tls_wrap import PlainRecorder, start_wrap_sink  # noqa: E402


def add_secret(inst, name, text):
    """secrets/NAME as relay-remote reads it: its own, 0600."""
    d = inst.path('secrets')
    os.makedirs(d, mode=0o700, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o600)
    if os.geteuid() == 0:
        pw = pwd.getpwnam('relayremote')
        for p in (d, path):
            os.chown(p, pw.pw_uid, pw.pw_gid)


def main():
    cadir = tempfile.mkdtemp(prefix='relaybox-wrap-ca-')
    sink = plain = None
    try:
        ca = make_ca(cadir)  # root-only: relay-remote loads it before the drop
        port = free_port('127.0.0.5')
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(cadir, 'srv.pem'), os.path.join(cadir, 'srv.key'))
        t, sink = start_wrap_sink('127.0.0.5', port, ctx)
        pport = free_port('127.0.0.7')
        plain = PlainRecorder('127.0.0.7', pport)
        rules = DEFAULT_RULES + (
            'route rcpt wrap.example [127.0.0.5]:%d tls_wrap=yes auth=up\n'
            'route rcpt plain.example [127.0.0.7]:%d tls_wrap=yes\n' % (port, pport))
        inst = Instance(conf_overrides={'tls_ca': ca}, rules_text=rules)
        inst.prepare()
        add_secret(inst, 'up', 'user\ns3cret pass\n')
        with inst:
            rc, err = inject(inst, 'a@example.com', ['x@wrap.example'],
                             b'Subject: implicit TLS\r\n\r\nx\r\n')
            check('tls_wrap route: injected', rc == 0, err)
            check('tls_wrap route: delivered', wait(lambda: t.msgs, 30), inst.log_tail())
            got = t.msgs[-1] if t.msgs else {}
            check('tls_wrap route: over TLS, with AUTH',
                  got.get('tls') and got.get('auth') is not None and
                  got['auth'].login == b'user', repr(got))
            check('tls_wrap route: no STARTTLS inside implicit TLS', t.starttls == 0)
            # relay-send logs after the result frame, once the sink has it
            sent = inst.wait_log(r'relay-send\[.*to=<x@wrap\.example>.*status=sent.*$', 30)
            check('tls_wrap route: the log line shows the TLS, implicit',
                  sent and re.search(r' tls=TLS\S* .* implicit status=sent', sent.group(0)),
                  inst.log_tail())

            rc, err = inject(inst, 'a@example.com', ['y@plain.example'],
                             b'Subject: to plain text\r\n\r\nx\r\n')
            check('tls_wrap route, plain-text server: injected', rc == 0, err)
            check('tls_wrap route, plain-text server: deferred 4.7.5 naming the host',
                  inst.wait_log(r'to=<y@plain\.example>.*status=deferred \(421 4\.7\.5 '
                                r'implicit TLS with 127\.0\.0\.7', 30), inst.log_tail())
            wait(lambda: plain.got, 10)  # the recorder sees the hang-up
            got = b''.join(plain.got)
            check('tls_wrap route, plain-text server: no SMTP command reached it',
                  plain.got and not any(w in got.upper() for w in
                                        (b'EHLO', b'HELO', b'MAIL', b'AUTH', b'STARTTLS')),
                  repr(got[:200]))
    finally:
        if sink:
            sink.stop()
        if plain:
            plain.close()
        shutil.rmtree(cadir, ignore_errors=True)
    finish()


main()
