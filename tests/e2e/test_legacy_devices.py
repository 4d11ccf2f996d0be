#!/usr/bin/python3
"""test_legacy_devices.py: legacy devices (relay.conf legacy_clients,
lib/legacy.h) on their own terms, everyone else as before.

- A real TLS 1.0 client (openssl s_client -tls1 -cipher
  'DEFAULT:@SECLEVEL=0', STARTTLS) at 127.0.0.1, a legacy address,
  relays a message (the Received header says TLSv1); the same TLS 1.0
  handshake from 127.0.0.2 (and from ::1 when there is IPv6), not in
  legacy_clients, is refused, while TLS 1.2 there still works.
- legacy_bare_lf: a client at 127.0.0.1 sending bare LF line ends
  (commands and text; the end of data still CRLF "." CRLF) gets its mail
  delivered with CRLF only; the same bytes from 127.0.0.2 are refused.
  The same message text in BDAT chunks too (a lone CR still refused).
- Smuggling with bare LF allowed: "\\n.\\n", "\\n.\\r\\n" and "\\r\\n.\\n"
  never end the data (the commands after them stay text of the one
  message, no second message, no bare LF and no lone dot line sent on);
  a lone CR is still refused (550 5.6.11).
- The same for implicit TLS (listen_tls): TLS 1.0 from 127.0.0.1, not
  from 127.0.0.2.
- legacy_plain: a rule with tls=yes lets the legacy address relay
  without TLS, not 127.0.0.2; makecdb warns about that rule, and refuses
  a legacy_tls_min it does not know.
- A TLS session made by the legacy address with an old cipher
  (AES128-SHA, TLS 1.2) is not resumed from 127.0.0.2 (which would keep
  that cipher), nor a session of 127.0.0.2 from the legacy address; the
  legacy address resumes its own.
- legacy_tls_ciphers never lets a NULL (unencrypted) or anonymous cipher
  through, whatever it says; makecdb refuses an IPv6 range in
  legacy_clients that holds every IPv4 address (::/64)."""
import os
import select
import smtplib
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, Raw, Sink, finish,  # noqa: E402
                     free_port, have_ipv6)
from certs import TestCerts, check, run_steps, wait_tag  # noqa: E402

RULES = """\
customer example licenses=1000 paid=yes
domain example.com customer=example
rule example loopback senders=domain auth=ip%s
ip example loopback 127.0.0.0/24
ip example loopback ::1
"""
LEGACY = '127.0.0.1'
OTHER = '127.0.0.2'


def msg(tag, nl=b'\r\n'):
    return nl.join([b'From: <sender@example.com>', b'To: <x@example.org>',
                    b'Subject: ' + tag.encode(),
                    b'Message-ID: <' + tag.encode() + b'@legacy.test>', b'',
                    b'line one of ' + tag.encode(), b'line two']) + nl


def s_client_relay(host, port, tag, timeout=30):
    """openssl s_client -tls1 with STARTTLS: EHLO, MAIL, RCPT, DATA, each
    after the reply to the one before; the replies seen, or None when
    the handshake failed."""
    p = subprocess.Popen(
        ['openssl', 's_client', '-tls1', '-cipher', 'DEFAULT:@SECLEVEL=0',
         '-starttls', 'smtp', '-crlf', '-quiet', '-connect',
         '%s:%d' % (host, port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    got, buf = [], b''
    deadline = time.time() + timeout
    try:
        for line in (b'EHLO printer.example.com', b'MAIL FROM:<sender@example.com>',
                     b'RCPT TO:<x@example.org>', b'DATA',
                     msg(tag, b'\n') + b'.', b'QUIT'):
            p.stdin.write(line + b'\n')
            p.stdin.flush()
            while True:  # up to the last line of one reply
                i = buf.find(b'\n')
                if i >= 0:
                    ln, buf = buf[:i].rstrip(b'\r'), buf[i + 1:]
                    if len(ln) >= 4 and ln[:3].isdigit() and ln[3:4] == b' ':
                        got.append(int(ln[:3]))
                        break
                    continue
                left = deadline - time.time()
                if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                    return got or None
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    return got or None
                buf += chunk
        return got
    except (BrokenPipeError, OSError):
        return got or None
    finally:
        p.kill()
        p.wait()


def tls1_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
    return ctx


def starttls_from(port, source, ctx):
    """The TLS version a STARTTLS handshake from source got, or the error."""
    try:
        with smtplib.SMTP('127.0.0.1', port, source_address=(source, 0),
                          timeout=20) as c:
            c.ehlo('client.example.com')
            c.starttls(context=ctx)
            return c.sock.version()
    except (ssl.SSLError, OSError, smtplib.SMTPException) as e:
        return 'refused: %r' % e


def implicit_from(port, source, ctx):
    """The TLS version an implicit-TLS handshake from source got."""
    try:
        with smtplib.SMTP_SSL('127.0.0.1', port, source_address=(source, 0),
                              context=ctx, timeout=20) as c:
            return c.sock.version()
    except (ssl.SSLError, OSError, smtplib.SMTPException) as e:
        return 'refused: %r' % e


def test_tls(inst, sink):
    got = s_client_relay('127.0.0.1', inst.port, 'tls1')
    check('TLS 1.0 (s_client) from the legacy address relays',
          got == [250, 250, 250, 354, 250, 221], got)
    m = wait_tag(sink, 'tls1', 30)
    check('TLS 1.0 message arrived, Received says TLSv1',
          m is not None and b'(TLSv1 ' in m.data, m.data[:300] if m else m)
    if inst.port6 and have_ipv6():
        got = s_client_relay('::1', inst.port6, 'tls1v6')
        check('TLS 1.0 (s_client) from ::1 refused', not got or
              got[:1] != [250], got)
    v = starttls_from(inst.port, OTHER, tls1_context())
    check('TLS 1.0 from another address (127.0.0.2) refused',
          v.startswith('refused'), v)
    v = implicit_from(inst.tls_port, LEGACY, tls1_context())
    check('implicit TLS: TLS 1.0 from the legacy address', v == 'TLSv1', v)
    v = implicit_from(inst.tls_port, OTHER, tls1_context())
    check('implicit TLS: TLS 1.0 from 127.0.0.2 refused',
          v.startswith('refused'), v)
    modern = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    modern.check_hostname, modern.verify_mode = False, ssl.CERT_NONE
    v = starttls_from(inst.port, OTHER, modern)
    check('TLS 1.2+ from another address still works',
          v in ('TLSv1.2', 'TLSv1.3'), v)


def tls12_context(ciphers):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    return ctx


def starttls_session(port, source, ctx, session=None):
    """(cipher, reused, session) of a STARTTLS handshake from source
    offering session, or ('refused: ...', False, None)."""
    try:
        with smtplib.SMTP('127.0.0.1', port, source_address=(source, 0),
                          timeout=20) as c:
            c.ehlo('client.example.com')
            code, text = c.docmd('STARTTLS')
            if code != 220:
                raise smtplib.SMTPException('STARTTLS %d' % code)
            c.sock = ctx.wrap_socket(c.sock, session=session)
            c.file = None
            c.noop()  # a TLS 1.2 ticket has come by now
            return (c.sock.cipher()[0], c.sock.session_reused,
                    c.sock.session)
    except (ssl.SSLError, OSError, smtplib.SMTPException) as e:
        return ('refused: %r' % e, False, None)


def test_resume(inst):
    weak = tls12_context('AES128-SHA:@SECLEVEL=0')
    v = starttls_session(inst.port, OTHER, weak)
    check('AES128-SHA from 127.0.0.2, fresh: refused',
          v[0].startswith('refused'), v[:2])
    old = starttls_session(inst.port, LEGACY, weak)
    check('AES128-SHA from the legacy address: taken',
          old[0] == 'AES128-SHA', old[:2])
    v = starttls_session(inst.port, LEGACY, weak, old[2])
    check('the legacy address resumes its own session', v[1], v[:2])
    v = starttls_session(inst.port, OTHER, weak, old[2])
    check('127.0.0.2 offering the legacy session: not resumed, refused',
          not v[1] and v[0].startswith('refused'), v[:2])
    both = tls12_context('ECDHE-ECDSA-AES256-GCM-SHA384:'
                         'ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA:'
                         '@SECLEVEL=0')
    new = starttls_session(inst.port, OTHER, both)
    v = starttls_session(inst.port, LEGACY, both, new[2])
    check('the legacy address offering a session of 127.0.0.2: '
          'not resumed', new[2] is not None and not v[1], (new[:2], v[:2]))


def test_null_cipher(certs, sink):
    conf = certs.conf()
    conf.update({'legacy_clients': LEGACY + '/32',
                 'legacy_tls_ciphers': 'ALL:eNULL:@SECLEVEL=0'})
    with Instance(conf_overrides=conf, rules_text=RULES % ' tls=yes',
                  sink=sink) as inst:
        v = starttls_session(inst.port, LEGACY,
                             tls12_context('NULL-SHA256:@SECLEVEL=0'))
        check('legacy_tls_ciphers with eNULL: a NULL cipher still refused',
              v[0].startswith('refused'), v[:2])
        v = starttls_session(inst.port, LEGACY,
                             tls12_context('AES128-SHA:@SECLEVEL=0'))
        check('the rest of that list is offered (AES128-SHA)',
              v[0] == 'AES128-SHA', v[:2])
        with open(inst.path('relay.conf')) as f:
            text = f.read().replace('legacy_clients = ' + LEGACY + '/32',
                                    'legacy_clients = ::/64')
        with open(inst.path('relay.conf'), 'w') as f:
            f.write(text)
        r = subprocess.run([os.path.join(BIN, 'makecdb'), '-n', '-d',
                            inst.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        check('makecdb refuses legacy_clients = ::/64 (every IPv4 address)',
              r.returncode == 100 and 'every IPv4' in r.stdout, r.stdout)


def bare_lf_session(port, source, body, tag):
    """Commands with bare LF, the text body, then CRLF . CRLF: the codes."""
    r = Raw(port, source_ip=source)
    codes = [r.reply()[0]]
    try:
        for c in (b'HELO scanner.example.com\n',
                  b'MAIL FROM:<sender@example.com>\n',
                  b'RCPT TO:<x@example.org>\n', b'DATA\n'):
            codes.append(r.cmd(c)[0])
            if codes[-1] >= 400:
                return codes
        codes.append(r.cmd(body + b'\r\n.\r\n')[0])
        codes.append(r.cmd(b'QUIT\r\n')[0])
    except (EOFError, OSError) as e:
        codes.append(repr(e))
    finally:
        r.close()
    return codes


def clean(data):
    """No bare LF, no lone CR, no line that is a lone dot."""
    lines = data.split(b'\r\n')
    return (b'\n' not in data.replace(b'\r\n', b'') and
            b'\r' not in data.replace(b'\r\n', b'') and b'.' not in lines)


def test_bare_lf(inst, sink):
    body = msg('lf', b'\n')[:-1]  # its last line end is the CRLF before .
    codes = bare_lf_session(inst.port, LEGACY, body, 'lf')
    check('bare LF from the legacy address: accepted',
          codes == [220, 250, 250, 250, 354, 250, 221], codes)
    m = wait_tag(sink, 'lf', 30)
    check('bare LF: delivered with CRLF line ends only',
          m is not None and clean(m.data) and
          b'Subject: lf\r\n' in m.data and
          m.data.endswith(b'line one of lf\r\nline two\r\n'),
          m.data[-200:] if m else m)
    codes = bare_lf_session(inst.port, OTHER, body, 'lf2')
    check('the same bytes from 127.0.0.2: refused (500 5.5.2)',
          codes[:2] == [220, 500], codes)


def bdat_session(port, source, body):
    """EHLO, MAIL, RCPT with bare LF, then the body in two BDAT chunks
    (the last one LAST): the codes."""
    r = Raw(port, source_ip=source)
    codes = [r.reply()[0]]
    half = len(body) // 2
    try:
        for c in (b'EHLO scanner.example.com\n',
                  b'MAIL FROM:<sender@example.com>\n',
                  b'RCPT TO:<x@example.org>\n',
                  b'BDAT %d\n' % half + body[:half],
                  b'BDAT %d LAST\n' % (len(body) - half) + body[half:]):
            codes.append(r.cmd(c)[0])
            if codes[-1] >= 400:
                return codes
        codes.append(r.cmd(b'QUIT\r\n')[0])
    except (EOFError, OSError) as e:
        codes.append(repr(e))
    finally:
        r.close()
    return codes


def test_bare_lf_bdat(inst, sink):
    """BDAT takes the same message text as DATA from a legacy device: a
    lone LF ends its lines, relayed as CRLF; a lone CR is refused."""
    codes = bdat_session(inst.port, LEGACY, msg('lfbdat', b'\n'))
    check('bare LF in BDAT chunks from the legacy address: accepted',
          codes == [220, 250, 250, 250, 250, 250, 221], codes)
    m = wait_tag(sink, 'lfbdat', 30)
    check('bare LF in BDAT: delivered with CRLF line ends only',
          m is not None and clean(m.data) and
          b'Subject: lfbdat\r\n' in m.data and
          m.data.endswith(b'line one of lfbdat\r\nline two\r\n'),
          m.data[-200:] if m else m)
    codes = bdat_session(inst.port, LEGACY, msg('crbdat')[:-2] +
                         b'\rafter a lone CR\r\n')
    check('a lone CR in BDAT is still refused (550) from the legacy address',
          codes[:6] == [220, 250, 250, 250, 250, 550], codes)
    r = Raw(inst.port, source_ip=OTHER)
    r.reply()
    r.cmd(b'EHLO other.example.com\r\n')
    r.cmd(b'MAIL FROM:<sender@example.com>\r\n')
    r.cmd(b'RCPT TO:<x@example.org>\r\n')
    body = msg('lfbdat2', b'\n')
    code, lines = r.cmd(b'BDAT %d LAST\r\n' % len(body) + body)
    r.close()
    check('bare LF in BDAT from 127.0.0.2: refused (550 5.6.11)',
          code == 550 and '5.6.11' in lines[0], (code, lines))


def test_smuggling(inst, sink):
    cases = (('smug1', b'\n.\n'), ('smug2', b'\n.\r\n'),
             ('smug3', b'\r\n.\n'))
    for tag, end in cases:
        body = (msg(tag)[:-2] + end + b'MAIL FROM:<evil@example.com>\n'
                b'RCPT TO:<smuggled@example.org>\nDATA\nsmuggled ' +
                tag.encode() + b'\n')
        codes = bare_lf_session(inst.port, LEGACY, body, tag)
        check('%s %r: one message, the rest is its text' % (tag, end),
              codes == [220, 250, 250, 250, 354, 250, 221], codes)
        m = wait_tag(sink, tag, 30)
        check('%s: sent on clean (CRLF only, no lone dot line), the '
              '"commands" inside it' % tag,
              m is not None and clean(m.data) and
              b'\r\nMAIL FROM:<evil@example.com>\r\n' in m.data and
              m.rcpts == ['x@example.org'], m.data[-300:] if m else m)
    time.sleep(1)
    check('no smuggled message to smuggled@example.org',
          not any('smuggled@example.org' in r for r, _ in sink.recipients()))
    codes = bare_lf_session(inst.port, LEGACY, msg('cr')[:-2] +
                            b'\rafter a lone CR', 'cr')
    check('a lone CR is still refused (550) from the legacy address',
          codes[:6] == [220, 250, 250, 250, 354, 550], codes)


def test_plain(sink):
    conf = {'legacy_clients': LEGACY + '/32', 'legacy_plain': 'yes'}
    with Instance(conf_overrides=conf, rules_text=RULES % ' tls=yes',
                  sink=sink) as inst:
        r = subprocess.run([os.path.join(BIN, 'makecdb'), '-n', '-d',
                            inst.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        check('makecdb warns: legacy_plain waives the rule\'s tls=yes',
              r.returncode == 0 and 'warning' in r.stdout and
              'legacy_plain' in r.stdout, r.stdout)
        with open(inst.path('relay.conf'), 'a') as f:
            f.write('legacy_tls_min = SSLv3\n')
        r = subprocess.run([os.path.join(BIN, 'makecdb'), '-n', '-d',
                            inst.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        check('makecdb refuses legacy_tls_min = SSLv3',
              r.returncode == 100 and 'legacy_tls_min' in r.stdout, r.stdout)
        for source, want in ((LEGACY, 250), (OTHER, 530)):
            with smtplib.SMTP('127.0.0.1', inst.port,
                              source_address=(source, 0), timeout=20) as c:
                c.ehlo('device.example.com')
                code, text = c.mail('sender@example.com')
            check('rule tls=yes, no TLS, from %s: MAIL %d' % (source, want),
                  code == want if want == 250 else code >= 500,
                  (code, text))


def main():
    with TestCerts() as certs, Sink() as sink:
        conf = certs.conf()
        tls_port = free_port()
        conf.update({'legacy_clients': LEGACY + '/32 192.0.2.0/24',
                     'legacy_bare_lf': 'yes',
                     'listen_tls': '127.0.0.1:%d' % tls_port})
        with Instance(conf_overrides=conf, rules_text=RULES % '',
                      sink=sink) as inst:
            inst.tls_port = tls_port
            run_steps(lambda: test_tls(inst, sink),
                      lambda: test_resume(inst),
                      lambda: test_bare_lf(inst, sink),
                      lambda: test_bare_lf_bdat(inst, sink),
                      lambda: test_smuggling(inst, sink))
        run_steps(lambda: test_plain(sink),
                  lambda: test_null_cipher(certs, sink))
    finish()


main()
