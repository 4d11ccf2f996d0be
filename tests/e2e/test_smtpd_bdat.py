#!/usr/bin/python3
"""test_smtpd_bdat.py: CHUNKING (RFC 3030) on receive, from a raw client,
in a real instance delivering to a real receiver (aiosmtpd, harness.Sink).

Every message sent with BDAT arrives at the receiver byte-exact (after the
relay's Received: field): chunk boundaries inside a CRLF and inside a
header, a 0-length LAST, a message of exactly message_size_max bytes whose
last line has no CRLF (the CRLF the relay adds is not counted), lines
that are only "." or start with one (a BDAT
chunk is not dot-stuffed, so relay-remote must stuff them for DATA: the
smuggling shapes in a chunk stay text), pipelined chunks, chunks inside
TLS.  Refusals come with the right code and the chunk's bytes are always
consumed (the next command is answered as a command): BDAT without MAIL
or RCPT, after a refused RCPT, past the size limit (552 5.3.4), a bare LF
or CR (550 5.6.11), a line too long (550 5.5.2), DATA or RCPT after BDAT
(503), BODY=BINARYMIME (not offered); a BDAT without a readable size
ends the session (501); a message not whole within data_timeout of its
first chunk ends it too (421 4.4.2)."""
import os
import select
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish, strip_trace  # noqa: E402
from test_smtpd_protocol import make_tls, starttls  # noqa: E402

FROM = b'sender@example.com'
SIZE_MAX = 20000
DATA_TIMEOUT = 4


def session(inst):
    r = Raw(inst.port)
    r.reply()
    code, lines = r.cmd(b'EHLO client.example.com\r\n')
    return r, [l.upper() for l in lines[1:]]


def mail(r, rcpts=(b'someone@example.org',)):
    ok = r.cmd(b'MAIL FROM:<%s>\r\n' % FROM)[0] == 250
    for rc in rcpts:
        ok = r.cmd(b'RCPT TO:<%s>\r\n' % rc)[0] == 250 and ok
    return ok


def bdat(r, data, last=False):
    return r.cmd(b'BDAT %d%s\r\n%s' % (len(data), b' LAST' if last else b'',
                                      data))


def queued(inst):
    time.sleep(0.2)
    return len([l for l in inst.log().splitlines()
                if 'relay-smtpd' in l and 'result=queued' in l])


def arrived(sink, mid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = [m for m in list(sink.messages) if mid in m.data]
        if got:
            return got
        time.sleep(0.2)
    return []


def msg(mid, body=b'hello\r\n'):
    return (b'From: <sender@example.com>\r\nSubject: chunks\r\n'
            b'Message-ID: <%s>\r\n\r\n%s' % (mid, body))


def send_chunks(inst, chunks):
    """One message in these chunks (the last with LAST); the replies."""
    r, _ = session(inst)
    codes = [mail(r)]
    for i, c in enumerate(chunks):
        codes.append(bdat(r, c, i + 1 == len(chunks)))
    codes.append(r.cmd(b'NOOP\r\n')[0])
    r.close()
    return codes


def test_ehlo(inst):
    r, ext = session(inst)
    check('EHLO advertises CHUNKING', 'CHUNKING' in ext, repr(ext))
    check('EHLO: no BINARYMIME (it cannot be carried on)',
          'BINARYMIME' not in ext, repr(ext))
    code, _ = r.cmd(b'MAIL FROM:<%s> BODY=BINARYMIME\r\n' % FROM)
    check('BODY=BINARYMIME refused 501', code == 501, str(code))
    r.close()


def test_exact(inst, sink):
    """Boundaries in a CRLF, in a header, a 0-length LAST; dots."""
    m1 = msg(b'split@test', b'.\r\n..two\r\n.\r\nMAIL FROM:<x@evil>\r\n'
             b'\r\n.\r\nend\r\n')
    cut1 = m1.index(b'\r\n') + 1          # between CR and LF
    cut2 = m1.index(b'Subject:') + 4       # inside a header name
    chunks = [m1[:cut1], m1[cut1:cut2], m1[cut2:], b'']
    codes = send_chunks(inst, chunks)
    check('split chunks: each 250, the 0-length LAST queues',
          codes[0] and all(c[0] == 250 for c in codes[1:-1]) and
          'queued as' in codes[-2][1][0] and codes[-1] == 250, repr(codes))
    got = arrived(sink, b'<split@test>')
    check('split chunks arrive byte-exact (dot lines stuffed on and '
          'unstuffed by the receiver)', got and strip_trace(got[0].data) == m1,
          got and got[0].data[-200:])
    check('the "." line in a chunk sent nothing of its own',
          len([m for m in list(sink.messages) if b'x@evil' in
               (m.mail_from or '').encode()]) == 0)
    m2 = msg(b'nocrlf@test', b'last line without CRLF')
    codes = send_chunks(inst, [m2])
    got = arrived(sink, b'<nocrlf@test>')
    check('a last line without CRLF gets one', got and
          strip_trace(got[0].data) == m2 + b'\r\n', repr(codes))
    check('the log counts the BDAT commands', any(
        'bdat=4 result=queued' in l for l in inst.log().splitlines()),
        inst.log_tail(5))


def sized(mid, total, crlf_end):
    """A message of exactly total bytes, its last line ending in CRLF or
    not, lines of 100 bytes at most."""
    m = msg(mid, b'')
    while total - len(m) > 100:
        m += b'b' * 98 + b'\r\n'
    tail = total - len(m)
    return m + (b'e' * (tail - 2) + b'\r\n' if crlf_end else b'e' * tail)


def test_size_exact(inst, sink):
    """message_size_max counts the client's bytes, not the CRLF the
    relay adds to a last line without one (§1.4)."""
    for mid, total, crlf in ((b'size-crlf@test', SIZE_MAX, True),
                             (b'size-nocrlf@test', SIZE_MAX, False)):
        m = sized(mid, total, crlf)
        codes = send_chunks(inst, [m[:5000], m[5000:]])
        what = '%d bytes, %s CRLF at the end' % (len(m),
                                                 'with' if crlf else 'without')
        check('%s: queued at LAST' % what, codes[-2][0] == 250 and
              'queued as' in codes[-2][1][0], repr(codes))
        got = arrived(sink, b'<%s>' % mid)
        check('%s: arrives, ending in CRLF' % what, got and
              strip_trace(got[0].data) == (m if crlf else m + b'\r\n'),
              got and got[0].data[-60:])
    m = sized(b'size-over@test', SIZE_MAX + 1, False)
    codes = send_chunks(inst, [m[:5000], m[5000:]])
    check('one byte more without CRLF: 552 5.3.4', codes[-2][0] == 552 and
          codes[-2][1][0].startswith('5.3.4'), repr(codes))


def test_pipelined(inst, sink):
    m = msg(b'pipe-bdat@test', (b'x' * 98 + b'\r\n') * 30)
    r, _ = session(inst)
    r.send(b'MAIL FROM:<%s>\r\nRCPT TO:<p1@example.org>\r\n'
           b'RCPT TO:<p2@example.org>\r\nBDAT 1000\r\n%sBDAT %d LAST\r\n%s'
           % (FROM, m[:1000], len(m) - 1000, m[1000:]))
    replies = [r.reply() for _ in range(5)]
    check('pipelined MAIL, RCPTs, BDATs: 250 each, the last queued',
          all(c == 250 for c, _ in replies) and
          'queued as' in replies[-1][1][0], repr(replies))
    r.close()
    got = arrived(sink, b'<pipe-bdat@test>')
    check('pipelined chunks arrive byte-exact, to both recipients',
          got and strip_trace(got[0].data) == m and
          sorted(got[0].rcpts) == ['p1@example.org', 'p2@example.org'],
          got and repr(got[0]))


def test_tls(inst, sink):
    """Chunks read through TLS (its own buffer under the session's)."""
    m = msg(b'tls-bdat@test', (b'y' * 60 + b'\r\n') * 250)
    r, ext = session(inst)
    check('STARTTLS offered', 'STARTTLS' in ext, repr(ext))
    r.cmd(b'STARTTLS\r\n')
    starttls(r)
    code, lines = r.cmd(b'EHLO client.example.com\r\n')
    check('CHUNKING inside TLS', code == 250 and
          'CHUNKING' in [l.upper() for l in lines], repr(lines))
    r.send(b'MAIL FROM:<%s>\r\nRCPT TO:<t@example.org>\r\nBDAT 9000\r\n%s'
           b'BDAT %d LAST\r\n%s' % (FROM, m[:9000], len(m) - 9000, m[9000:]))
    replies = [r.reply() for _ in range(4)]
    check('pipelined chunks inside TLS: queued',
          all(c == 250 for c, _ in replies) and
          'queued as' in replies[-1][1][0], repr(replies))
    r.close()
    got = arrived(sink, b'<tls-bdat@test>')
    check('chunks inside TLS arrive byte-exact',
          got and strip_trace(got[0].data) == m)


def test_sequence(inst):
    before = queued(inst)
    r, _ = session(inst)
    code, lines = bdat(r, b'MAIL FROM:<x@evil>\r\n', True)
    check('BDAT without MAIL 503 5.5.1', code == 503 and
          lines[0].startswith('5.5.1'), repr((code, lines)))
    check('its bytes were consumed, not read as commands',
          r.cmd(b'NOOP\r\n')[0] == 250)
    r.cmd(b'MAIL FROM:<%s>\r\n' % FROM)
    code, _ = bdat(r, b'RSET\r\n', True)
    check('BDAT without RCPT 503', code == 503, str(code))
    code, _ = r.cmd(b'RCPT TO:<a%b@example.org>\r\n')
    check('a refused RCPT (553)', code == 553, str(code))
    code, _ = bdat(r, b'QUIT\r\n', True)
    check('BDAT after a refused RCPT 503, bytes consumed',
          code == 503 and r.cmd(b'NOOP\r\n')[0] == 250, str(code))
    r.cmd(b'RCPT TO:<ok@example.org>\r\n')
    check('BDAT chunk 250', bdat(r, b'Subject: x\r\n')[0] == 250)
    code, _ = r.cmd(b'RCPT TO:<late@example.org>\r\n')
    check('RCPT after BDAT 503', code == 503, str(code))
    code, _ = r.cmd(b'DATA\r\n')
    check('DATA after BDAT 503 (and the transaction ends)', code == 503,
          str(code))
    code, _ = bdat(r, b'\r\nbody\r\n', True)
    check('BDAT after that 503: nothing left to add to', code == 503,
          str(code))
    check('RSET', r.cmd(b'RSET\r\n')[0] == 250)
    mail(r)
    bdat(r, b'Subject: y\r\n')
    r.cmd(b'RSET\r\n')
    code, _ = bdat(r, b'\r\nbody\r\n', True)
    check('RSET drops a BDAT message under way', code == 503, str(code))
    r.close()
    r, _ = session(inst)
    code, _ = r.cmd(b'BDAT ten LAST\r\n')
    check('BDAT without a size 501', code == 501, str(code))
    try:
        r.cmd(b'NOOP\r\n')
        closed = False
    except (EOFError, OSError):
        closed = True
    check('... and the session ends (the chunk length is unknown)', closed)
    r.close()
    for line in (b'BDAT\t12 LAST', b'bdat\t12', b'BDAT,12', b'BDAT12'):
        r, _ = session(inst)
        # the "chunk" is two commands: they must never run
        r.send(line + b'\r\nRSET\r\nNOOP\r\n')
        got = b''
        r.s.settimeout(5)
        try:
            for _ in range(20):
                chunk = r.s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        r.close()
        check('%r (not SP after BDAT): 501, closed, the chunk never run' % line,
              got.startswith(b'501 5.5.4 Syntax: BDAT size [LAST]\r\n') and
              b'250' not in got, got)
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'HELO printer\r\n')
    mail(r)
    code, _ = bdat(r, b'x\r\n', True)
    # the chunk came with the command: without EHLO that is improper
    # pipelining (554, closed); had it come later, 503
    check('BDAT after HELO (no CHUNKING offered) refused', code in (503, 554),
          str(code))
    r.close()
    check('sequence errors: nothing queued', queued(inst) == before,
          inst.log_tail(10))


def test_refusals(inst):
    before = queued(inst)
    r, _ = session(inst)
    mail(r)
    check('15000 bytes: 250', bdat(r, (b'y' * 98 + b'\r\n') * 150)[0] == 250)
    code, lines = bdat(r, (b'z' * 98 + b'\r\n') * 60, True)
    check('a chunk past the size limit 552 5.3.4', code == 552 and
          lines[0].startswith('5.3.4'), repr((code, lines)))
    check('its bytes were consumed', r.cmd(b'NOOP\r\n')[0] == 250)
    mail(r)
    code, _ = bdat(r, b'a' * (SIZE_MAX + 1) + b'\r\nNOOP\r\n', True)
    check('a first chunk over the limit 552, consumed', code == 552 and
          r.cmd(b'NOOP\r\n')[0] == 250, str(code))
    for name, chunks, want, esc in [
            ('bare LF', [b'Subject: a\r\n\r\nx\ny\r\n'], 550, '5.6.11'),
            ('bare CR at a chunk end', [b'Subject: a\r\n\r\nx\r', b'y\r\n'],
             550, '5.6.11'),
            ('bare CR before LAST', [b'Subject: a\r\n\r\nx\r', b''],
             550, '5.6.11'),
            ('\\n.\\n in a chunk', [b'Subject: a\r\n\r\nx\n.\nMAIL FROM:<e@x>'
                                    b'\r\n'], 550, '5.6.11'),
            ('a line over line_max across chunks',
             [b'Subject: a\r\n\r\n' + b'l' * 600, b'l' * 600 + b'\r\n'],
             550, '5.5.2')]:
        mail(r)
        replies = [bdat(r, c, i + 1 == len(chunks))
                   for i, c in enumerate(chunks)]
        code, lines = replies[-1] if replies[0][0] == 250 else replies[0]
        check('%s: %d %s' % (name, want, esc), code == want and
              lines[0].startswith(esc), repr(replies))
        check('%s: in step after' % name, r.cmd(b'NOOP\r\n')[0] == 250)
    r.close()
    check('refused chunks: nothing queued', queued(inst) == before,
          inst.log_tail(10))


def test_deadline(inst):
    """A BDAT message must be whole within data_timeout of its first
    chunk, however the client spaces its chunks (relay-queue gives the
    job that long and a minute more)."""
    before = queued(inst)
    r, _ = session(inst)
    mail(r)
    check('deadline: first chunk 250', bdat(r, b'Subject: slow\r\n')[0] == 250)
    t = time.time()
    code, lines = r.reply()  # nothing sent: the relay speaks first
    waited = time.time() - t
    check('deadline: 421 4.4.2 after data_timeout (%.1f s)' % waited,
          code == 421 and lines[0].startswith('4.4.2') and
          DATA_TIMEOUT - 1 < waited < DATA_TIMEOUT + 5, repr((code, lines)))
    r.close()
    r, _ = session(inst)
    mail(r)
    r.send(b'BDAT 100 LAST\r\n')
    t = time.time()
    code = None
    while time.time() - t < DATA_TIMEOUT + 8 and code is None:
        try:
            r.send(b'x')  # a byte every half second: each read is quick
            ready, _, _ = select.select([r.s], [], [], 0.5)
            if ready:
                code, lines = r.reply()
        except OSError:
            break
    waited = time.time() - t
    check('deadline: a chunk trickled in ends at data_timeout too '
          '(%.1f s)' % waited, code == 421 and waited < DATA_TIMEOUT + 3,
          repr(code))
    r.close()
    check('deadline: nothing queued', queued(inst) == before)


def main():
    tmp = tempfile.mkdtemp(prefix='relaybox-bdat-')
    os.chmod(tmp, 0o755)
    try:
        cert, key = make_tls(tmp)
        conf = {'message_size_max': SIZE_MAX, 'tls_cert': cert,
                'tls_key': key, 'data_timeout': DATA_TIMEOUT}
        with Sink() as sink, Instance(conf_overrides=conf, sink=sink) as inst:
            test_ehlo(inst)
            test_exact(inst, sink)
            test_size_exact(inst, sink)
            test_pipelined(inst, sink)
            test_tls(inst, sink)
            test_sequence(inst)
            test_refusals(inst)
            test_deadline(inst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
