#!/usr/bin/python3
"""test_relay_basic.py: the first end-to-end relay.  Messages sent with
swaks, Python smtplib and a raw pipelined client arrive at a real
receiving server byte for byte (after the relay's own Received header):
dot-stuffed lines, an 8-bit body, lines at the length limit, several
recipients, several messages on one connection, a fully pipelined
transaction.  Then relayctl status and log see them."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Raw, Sink, check, finish, smtp_session,  # noqa: E402
                     strip_trace, swaks, wait_until)

FROM = 'sender@example.com'


def msg(subject, body):
    return (b'From: Sender <sender@example.com>\r\n'
            b'To: Someone <someone@example.org>\r\n'
            b'Subject: ' + subject.encode() + b'\r\n'
            b'Message-ID: <' + subject.encode() + b'@test>\r\n'
            b'\r\n' + body)


def arrived(sink, subject):
    """Messages at the sink whose Message-ID names subject."""
    tag = b'Message-ID: <' + subject.encode() + b'@test>'
    return [m for m in list(sink.messages) if tag in m.data]


def wait_arrived(sink, subject, nrcpts=1, timeout=60):
    """The arrived copies of subject once they carry nrcpts recipients."""
    wait_until(lambda: sum(len(m.rcpts) for m in arrived(sink, subject)) >=
               nrcpts, timeout)
    return arrived(sink, subject)


def exact(sink, name, subject, sent, rcpts):
    got = wait_arrived(sink, subject)
    ok = len(got) == 1 and strip_trace(got[0].data) == sent
    detail = ''
    if got and not ok:
        detail = 'got %r' % strip_trace(got[0].data)[:300]
    check(name + ': arrives byte-exact', ok, detail or 'nothing arrived')
    if got:
        check(name + ': envelope', got[0].mail_from == FROM and
              sorted(got[0].rcpts) == sorted(rcpts),
              '%r %r' % (got[0].mail_from, got[0].rcpts))


def test_swaks(inst, sink, tmpdir):
    data = msg('swaks1', b'Hello from swaks.\r\n.leading dot\r\n..two dots\r\n')
    path = os.path.join(tmpdir, 'swaks.eml')
    with open(path, 'wb') as f:
        f.write(data[:-2])  # swaks ends the data with its own CRLF
    r = swaks('--server', '127.0.0.1', '--port', inst.port, '--from', FROM,
              '--to', 'r1@example.org', '--helo', 'client.example.com',
              '--data', '@' + path)
    check('swaks: accepted (exit 0)', r.returncode == 0, r.stdout[-800:])
    exact(sink, 'swaks', 'swaks1', data, ['r1@example.org'])


def test_smtplib_cases(inst, sink):
    long_line = b'x' * 998
    cases = [
        ('dots', b'.\r\n..\r\n.hidden\r\n . not first\r\n...\r\nend\r\n', []),
        ('eightbit', 'Gr\u00fc\u00dfe, \u00e9t\u00e9, \u65e5\u672c\r\n'
         .encode('utf-8') + bytes(range(0x80, 0x100)) + b'\r\n',
         ['BODY=8BITMIME']),
        ('longline', long_line + b'\r\n' + long_line[:-1] + b'.\r\n', []),
        ('nofinalcrlf', b'no final line end', []),
    ]
    for subject, body, opts in cases:
        data = msg(subject, body)
        with smtp_session(inst.port) as c:
            c.ehlo('client.example.com')
            refused = c.sendmail(FROM, ['r1@example.org'], data,
                                 mail_options=opts)
            check('smtplib %s: accepted' % subject, refused == {}, refused)
        if not body.endswith(b'\r\n'):
            data += b'\r\n'  # smtplib ends the message with CRLF
        exact(sink, 'smtplib ' + subject, subject, data, ['r1@example.org'])


def test_several_rcpts(inst, sink):
    rcpts = ['a1@example.org', 'a2@example.org', 'a3@example.net']
    data = msg('multi', b'three recipients\r\n')
    with smtp_session(inst.port) as c:
        check('3 recipients: accepted', c.sendmail(FROM, rcpts, data) == {})
    got = wait_arrived(sink, 'multi', nrcpts=3)
    seen = sorted(r for m in got for r in m.rcpts)
    check('3 recipients: each delivered once', seen == sorted(rcpts), seen)
    check('3 recipients: bytes exact',
          got and all(strip_trace(m.data) == data for m in got))


def test_one_connection(inst, sink):
    with smtp_session(inst.port) as c:
        c.ehlo('client.example.com')
        for i in range(5):
            data = msg('conn%d' % i, b'message %d of 5\r\n' % i)
            check('5 on one connection: #%d accepted' % i,
                  c.sendmail(FROM, ['r%d@example.org' % i], data) == {})
    for i in range(5):
        got = wait_arrived(sink, 'conn%d' % i)
        check('5 on one connection: #%d arrives once' % i, len(got) == 1 and
              strip_trace(got[0].data) == msg('conn%d' % i,
                                              b'message %d of 5\r\n' % i))


def test_pipelined(inst, sink):
    r = Raw(inst.port)
    code, _ = r.reply()
    check('pipelined: greeting 220', code == 220, code)
    code, lines = r.cmd(b'EHLO client.example.com\r\n')
    check('pipelined: EHLO offers PIPELINING', code == 250 and
          any(x.upper().startswith('PIPELINING') for x in lines), lines)
    r.send(b'MAIL FROM:<' + FROM.encode() + b'>\r\n'
           b'RCPT TO:<p1@example.org>\r\nRCPT TO:<p2@example.org>\r\n'
           b'DATA\r\n')
    codes = [r.reply()[0] for _ in range(4)]
    check('pipelined: MAIL/RCPT/RCPT/DATA answered 250 250 250 354',
          codes == [250, 250, 250, 354], codes)
    data = msg('pipelined', b'all in one write\r\n')
    code, text = r.cmd(data + b'.\r\n')
    check('pipelined: 250 after the dot', code == 250, text)
    code, _ = r.cmd(b'QUIT\r\n')
    check('pipelined: 221 after QUIT', code == 221, code)
    r.close()
    got = wait_arrived(sink, 'pipelined', nrcpts=2)
    seen = sorted(x for m in got for x in m.rcpts)
    check('pipelined: both recipients delivered',
          seen == ['p1@example.org', 'p2@example.org'], seen)
    check('pipelined: bytes exact',
          got and all(strip_trace(m.data) == data for m in got))


def test_relayctl(inst):
    r = inst.relayctl('status')
    check('relayctl status: exit 0 while running', r.returncode == 0,
          r.stdout + r.stderr)
    for name in ('relay-master', 'relay-policy', 'relay-queue',
                 'relay-send', 'relay-remote', 'relay-listen'):
        check('relayctl status: %s running' % name,
              any(line.startswith(name) and ' running ' in line
                  for line in r.stdout.splitlines()), r.stdout)
    r = inst.relayctl('log', '--from', FROM)
    check('relayctl log --from: finds the messages', r.returncode == 0 and
          FROM in r.stdout, r.stdout[-500:] + r.stderr)
    r = inst.relayctl('log', '--to', 'p2@example.org')
    check('relayctl log --to: finds the delivery',
          r.returncode == 0 and 'p2@example.org' in r.stdout,
          r.stdout[-500:] + r.stderr)


def main():
    import tempfile
    tmpdir = tempfile.mkdtemp(prefix='relaybox-basic-')
    try:
        with Sink() as sink, Instance(sink=sink) as inst:
            test_swaks(inst, sink, tmpdir)
            test_smtplib_cases(inst, sink)
            test_several_rcpts(inst, sink)
            test_one_connection(inst, sink)
            test_pipelined(inst, sink)
            check('queue empties after delivery', inst.wait_queue_empty(60),
                  'queue/new holds %d' % inst.queue_count())
            test_relayctl(inst)
    finally:
        import shutil
        shutil.rmtree(tmpdir, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
