#!/usr/bin/python3
"""test_smtpd_sync_tls.py: the SMTP protocol synchronization check of
test_smtpd_sync.py, inside TLS (after STARTTLS and on the implicit-TLS
port): what a client sent ahead of a reply it must wait for is seen
wherever it is when the check runs (relay-smtpd's buffer, OpenSSL's
buffer of decrypted or read-ahead records, or still on the socket), and
gets 554 5.5.0 and the close, as in plain text.

Shows: a refused DATA with the message behind it in later TLS records
is not run as commands and nothing is queued, whether those records
came in the same TCP write (OpenSSL reads them ahead) or were sent while
relay-smtpd worked through the group before the DATA (on the socket
only); a command behind EHLO, HELO, NOOP or
VRFY in its own record is refused; a client on the implicit-TLS port
that sends EHLO with its handshake's last flight, before the greeting,
gets 554 and no 220; a proper pipelined group and its message still
work in TLS.  Records sent in separate writes right behind the DATA's
may arrive before or after the check runs, in TLS as in plain text (and
a client's TCP holds them back until our reply, unless TCP_NODELAY):
what has not arrived is not seen, so no test of that race."""
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, finish, free_port  # noqa: E402
from certs import TestCerts, check, run_steps  # noqa: E402

FROM = 'sender@example.com'
SYNC = '554 5.5.0 Error: SMTP protocol synchronization'


class TLSPipe:
    """A TLS client over memory BIOs: what write() encrypts (one record
    per call) goes out only at flush(), all records in one TCP write."""

    def __init__(self, sock):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out,
                                server_hostname='relaybox.test')
        self.buf = b''

    def handshake(self):
        """Up to the client's last flight, kept for the next flush()."""
        for _ in range(20):
            try:
                self.obj.do_handshake()
                return
            except ssl.SSLWantReadError:
                self.s.sendall(self.out.read())
                self._feed()
        raise RuntimeError('handshake did not end')

    def _feed(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError('connection closed')
        self.inc.write(d)

    def write(self, data):
        self.obj.write(data)

    def flush(self):
        self.s.sendall(self.out.read())

    def reply(self):
        """One whole reply's last line."""
        while True:
            while b'\r\n' in self.buf:
                line, self.buf = self.buf.split(b'\r\n', 1)
                if len(line) < 4 or line[3:4] != b'-':
                    return line.decode(errors='replace')
            try:
                self.buf += self.obj.read(65536)
            except ssl.SSLWantReadError:
                self._feed()

    def rest(self, wait=3.0):
        """Everything the server still sends, and whether it closed."""
        self.s.settimeout(wait)
        data, self.buf = self.buf, b''
        try:
            for _ in range(1000):
                try:
                    chunk = self.obj.read(65536)
                    if not chunk:
                        return data, True
                    data += chunk
                    continue
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError:
                    return data, True
                d = self.s.recv(65536)
                if not d:
                    return data, True
                self.inc.write(d)
        except OSError:
            return data, False
        return data, False


def starttls(inst):
    """A session in TLS after STARTTLS and a new EHLO."""
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO c.example.com\r\n')
    code, _ = r.cmd(b'STARTTLS\r\n')
    if code != 220:
        raise RuntimeError('STARTTLS: %d' % code)
    t = TLSPipe(r.s)
    t.handshake()
    t.flush()
    t.write(b'EHLO c.example.com\r\n')
    t.flush()
    line = t.reply()
    if not line.startswith('250'):
        raise RuntimeError('EHLO in TLS: %s' % line)
    return t


def queued_count(inst):
    return inst.log().count('result=queued')


SMUGGLE = [b'MAIL FROM:<%s>\r\nRCPT TO:<no-at-sign>\r\nDATA\r\n' % FROM.encode(),
           b'RSET\r\nMAIL FROM:<%s>\r\nRCPT TO:<victim@example.org>\r\n'
           b'DATA\r\n' % FROM.encode(),
           b'Subject: smuggled in TLS\r\n\r\nhi\r\n.\r\nQUIT\r\n']


def check_refused(inst, what, text, closed, before):
    check('%s: 554 5.5.0' % what, SYNC in text, text)
    check('%s: and the connection closed' % what, closed, text)
    check('%s: the message was not run as commands' % what,
          text.count('250 ') == 1 and '354' not in text, text)
    time.sleep(0.5)
    check('%s: nothing queued' % what, queued_count(inst) == before)


def test_refused_data_one_write(inst):
    """DATA refused, the message behind it in later records; all the
    records in one TCP write (so read ahead with the first)."""
    before = queued_count(inst)
    t = starttls(inst)
    for rec in SMUGGLE:
        t.write(rec)
    t.flush()
    text, closed = t.rest()
    check_refused(inst, 'TLS, records in one write',
                  text.decode(errors='replace'), closed, before)


def later_attempt(inst):
    """One session: the reply text, whether it closed."""
    t = starttls(inst)
    t.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t.write(b'HELP\r\n' * 200 +
            b'MAIL FROM:<%s>\r\nRSET\r\n' % FROM.encode() * 380 + SMUGGLE[0])
    t.flush()
    t.inc.write(t.s.recv(65536))  # the first replies: the group was read
    t.write(SMUGGLE[1])
    t.write(SMUGGLE[2])
    t.flush()
    text, closed = t.rest(10)
    return text.decode(errors='replace'), closed


def test_refused_data_later(inst):
    """The message's records sent once relay-smtpd is busy with the group
    before the refused DATA: its first 16 KiB of replies (to 200 HELP)
    show that it read that record, and the rest of the group (380
    MAIL/RSET, each MAIL asked of relay-policy) keeps it busy a while, so
    at DATA the message is on the socket only, not read ahead with the
    group: the check must look there too.  Only a while (some 30 ms): a
    client that a loaded machine wakes later sends its message after the
    check (the DATA gets 503, the message's own DATA the 554), so up to
    five sessions; without the look at the socket none of them is
    refused at the first DATA."""
    before = queued_count(inst)
    tries = []
    for _ in range(5):
        text, closed = later_attempt(inst)
        tries.append(text[-200:])
        if '503 5.5.1' not in text:
            break
    check('TLS, the message sent while the group runs: 554 5.5.0 at DATA',
          SYNC in text and closed and '503 5.5.1' not in text, repr(tries))
    check('TLS, the message sent while the group runs: not run as commands',
          '354' not in text and 'victim' not in text, repr(text[-300:]))
    time.sleep(0.5)
    check('TLS, the message sent while the group runs: nothing queued',
          queued_count(inst) == before)


def test_after_last(inst, verb):
    t = starttls(inst)
    t.write(verb + (b' c.example.com' if verb in (b'EHLO', b'HELO') else b'')
            + b'\r\n')
    t.write(b'MAIL FROM:<%s>\r\n' % FROM.encode())
    t.flush()
    data, closed = t.rest()
    text = data.decode(errors='replace')
    check('TLS: %s with a command behind it in the next record: 554 5.5.0, '
          'closed' % verb.decode(),
          SYNC in text and closed and '250 2.1.0' not in text, text)


def test_implicit_before_greeting(port):
    """The implicit-TLS port: EHLO sent with the handshake's last flight,
    before the greeting."""
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    t = TLSPipe(s)
    t.handshake()
    t.write(b'EHLO early.example.com\r\n')
    t.flush()
    data, closed = t.rest()
    text = data.decode(errors='replace')
    check('implicit TLS, talking before the greeting: 554 5.5.0, no 220',
          text.startswith('554 5.5.0') and '220 ' not in text and closed,
          text)
    s.close()


def test_implicit_proper(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    t = TLSPipe(s)
    t.handshake()
    t.flush()
    line = t.reply()
    check('implicit TLS, a client that waits: 220', line.startswith('220 '),
          line)
    t.write(b'EHLO c.example.com\r\n')
    t.flush()
    line = t.reply()
    check('and its EHLO: 250', line.startswith('250 '), line)
    s.close()


def test_proper(inst):
    """A proper pipelined group in one record, the message after 354."""
    before = queued_count(inst)
    t = starttls(inst)
    t.write(b'MAIL FROM:<%s>\r\nRCPT TO:<ok@example.org>\r\nDATA\r\n'
            % FROM.encode())
    t.flush()
    codes = [t.reply()[:3] for _ in range(3)]
    check('TLS: a proper group after EHLO: 250 250 354',
          codes == ['250', '250', '354'], codes)
    t.write(b'Subject: fine\r\n\r\nhi\r\n.\r\n')
    t.flush()
    line = t.reply()
    check('TLS: and its message is queued', line.startswith('250 '), line)
    t.write(b'NOOP\r\n')
    t.flush()
    line = t.reply()
    check('TLS: NOOP after it, waited for: 250', line.startswith('250 '), line)
    t.write(b'QUIT\r\n')
    t.flush()
    check('TLS: QUIT: 221', t.reply().startswith('221'))
    time.sleep(0.5)
    check('TLS: one message queued', queued_count(inst) == before + 1)


def main():
    tport = free_port()
    with TestCerts() as c, Sink() as sink:
        conf = dict(c.conf(), listen_tls='127.0.0.1:%d' % tport)
        with Instance(sink=sink, conf_overrides=conf) as inst:
            run_steps(lambda: test_refused_data_one_write(inst),
                      lambda: test_refused_data_later(inst),
                      lambda: test_after_last(inst, b'EHLO'),
                      lambda: test_after_last(inst, b'HELO'),
                      lambda: test_after_last(inst, b'NOOP'),
                      lambda: test_after_last(inst, b'VRFY x'),
                      lambda: test_implicit_before_greeting(tport),
                      lambda: test_implicit_proper(tport),
                      lambda: test_proper(inst))
    finish()


if __name__ == '__main__':
    main()
