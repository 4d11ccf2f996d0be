#!/usr/bin/python3
"""test_smtpd_sync.py: relay-smtpd refuses a client that does not wait
where SMTP says it must (RFC 2920, RFC 5321; Postfix calls it
smtpd_forbid_unauth_pipelining): 554 5.5.0 and the connection closed,
so that what the client sent ahead is never taken as commands.

Shows: a message pipelined right behind a DATA that is refused (no
valid recipient) is not executed line by line as commands (its
"MAIL FROM"/"RCPT TO"/"DATA" lines get no 250 and nothing is queued);
bytes pipelined after EHLO, HELO, NOOP or VRFY, commands pipelined in a
session that never said EHLO, and a client that talks before the
greeting (relay-smtpd started on a socket that already holds its EHLO)
are refused the same way; a proper pipelined group (MAIL, RCPT, DATA
after EHLO's reply), and the message after 354, still work."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Instance, Raw, Sink, finish  # noqa: E402
from certs import check, run_steps  # noqa: E402

FROM = 'sender@example.com'
SYNC = '554 5.5.0 Error: SMTP protocol synchronization'


def session(inst):
    r = Raw(inst.port)
    code, _ = r.reply()
    return r, code


def rest(r, wait=2.0):
    """Everything the server still sends until it closes (or wait s)."""
    r.s.settimeout(wait)
    data = r.buf
    try:
        while True:
            chunk = r.s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except OSError:
        return data, False


def queued_count(inst):
    return inst.log().count('result=queued')


def test_refused_data(inst):
    """The smuggling shape: DATA refused, the message text behind it."""
    before = queued_count(inst)
    r, _ = session(inst)
    r.cmd(b'EHLO c.example.com\r\n')
    r.send(b'MAIL FROM:<%s>\r\nRCPT TO:<no-at-sign>\r\nDATA\r\n'
           b'MAIL FROM:<%s>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n'
           b'Subject: smuggled\r\n\r\nhi\r\n.\r\nQUIT\r\n'
           % (FROM.encode(), FROM.encode()))
    data, closed = rest(r)
    text = data.decode(errors='replace')
    check('refused DATA with a message behind it: 554 5.5.0', SYNC in text, text)
    check('and the connection closed', closed, text)
    check('the message text was not run as commands (one 250, the first MAIL)',
          text.count('250 ') == 1 and '354' not in text, text)
    time.sleep(0.5)
    check('nothing queued', queued_count(inst) == before)


def test_after_last(inst, verb):
    r, _ = session(inst)
    if verb != b'EHLO':
        r.cmd(b'EHLO c.example.com\r\n')
    r.send(verb + (b' c.example.com' if verb in (b'EHLO', b'HELO') else b'')
           + b'\r\nMAIL FROM:<%s>\r\n' % FROM.encode())
    data, closed = rest(r)
    text = data.decode(errors='replace')
    check('%s with a command pipelined behind it: 554 5.5.0, closed'
          % verb.decode(), SYNC in text and closed and '250 2.1.0' not in text, text)


def test_no_ehlo(inst):
    r, _ = session(inst)
    r.cmd(b'HELO c.example.com\r\n')
    r.send(b'MAIL FROM:<%s>\r\nRCPT TO:<x@example.org>\r\n' % FROM.encode())
    data, closed = rest(r)
    text = data.decode(errors='replace')
    check('pipelining after HELO (not offered): 554 5.5.0, closed',
          SYNC in text and closed, text)


def test_before_greeting(inst):
    """relay-smtpd on one end of a socket pair (UCSPI), the client's EHLO
    already written into the other: it came before any greeting."""
    d = tempfile.mkdtemp(prefix='relaybox-sync-')
    os.chmod(d, 0o755)
    with open(os.path.join(d, 'relay.conf'), 'w') as f:
        f.write('hostname = relaybox.test\nrun_dir = %s\n' % inst.path('run'))
    ours, theirs = socket.socketpair()
    ours.sendall(b'EHLO early.example.com\r\n')
    env = dict(os.environ, TCPREMOTEIP='127.0.0.1', TCPREMOTEPORT='5',
               TCPLOCALIP='127.0.0.1', TCPLOCALPORT='25', PROTO='TCP')
    env.pop('RELAYBOX_TLS', None)
    p = subprocess.Popen([os.path.join(BIN, 'relay-smtpd'), '-d', d],
                         stdin=theirs, stdout=theirs, env=env)
    theirs.close()
    ours.settimeout(10)
    data = b''
    try:
        while True:
            chunk = ours.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    if p.poll() is None:  # still talking: it did not refuse
        p.kill()
    p.wait()
    ours.close()
    shutil.rmtree(d, ignore_errors=True)
    text = data.decode(errors='replace')
    check('a client talking before the greeting: 554 5.5.0, no 220',
          text.startswith('554 5.5.0') and '220 ' not in text, text)


def test_proper(inst):
    r, _ = session(inst)
    r.cmd(b'EHLO c.example.com\r\n')
    r.send(b'MAIL FROM:<%s>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\n'
           % FROM.encode())
    codes = [r.reply()[0] for _ in range(3)]
    check('a proper group after EHLO: 250 250 354', codes == [250, 250, 354], codes)
    code, lines = r.cmd(b'Subject: fine\r\n\r\nhi\r\n.\r\n')
    check('and its message is queued', code == 250, lines)
    code, _ = r.cmd(b'QUIT\r\n')
    check('QUIT after it: 221', code == 221, code)
    r.close()


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        run_steps(lambda: test_refused_data(inst),
                  lambda: test_after_last(inst, b'EHLO'),
                  lambda: test_after_last(inst, b'HELO'),
                  lambda: test_after_last(inst, b'NOOP'),
                  lambda: test_after_last(inst, b'VRFY x'),
                  lambda: test_no_ehlo(inst),
                  lambda: test_before_greeting(inst),
                  lambda: test_proper(inst))
    finish()


if __name__ == '__main__':
    main()
