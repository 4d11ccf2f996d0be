#!/usr/bin/python3
"""test_delivery_smtputf8.py: a client's SMTPUTF8 travels with its
message (the queue file's info field smtputf8=yes, queue/QUEUE.md) to
the next hop (RFC 6531 3.4), through the whole relay.

- next hop offers SMTPUTF8: a client's SMTPUTF8 transaction with ASCII
  addresses and a UTF-8 Subject leaves with `MAIL FROM:<...> ...
  SMTPUTF8`; a transaction without it leaves without it;
- next hop without SMTPUTF8: the same message is delivered without it
  (ASCII addresses need nothing; its headers are not downgraded).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Raw, ThreadServer, check,  # noqa: E402
                     finish, free_port, wait_until)

MSG = ('From: a@example.com\r\nTo: b@example.org\r\n'
       'Subject: Gr\u00fc\u00dfe von Jos\u00e9\r\n\r\nhallo\r\n').encode()


class NextHop(ThreadServer):
    """A next hop on loopback that records each MAIL command and each
    message's data (.mails, .bodies), and each transaction whole
    (.txns: dicts of mail, rcpts, data); offers SMTPUTF8 while .utf8 is
    true and 8BITMIME while .mime8 is (read at each EHLO); answers 550
    to a RCPT of an address in .refuse.  test_delivery_8bit.py and
    test_dsn_utf8.py use it too."""

    def __init__(self):
        self.host = '127.0.0.1'
        self.port = free_port(self.host)
        self.utf8 = self.mime8 = True
        self.mails, self.bodies, self.txns = [], [], []
        self.refuse = set()
        super().__init__(self.host, self.port)

    def session(self, c):
        try:
            self.dialogue(c.makefile('rwb', buffering=0))
        except ValueError:
            pass

    def dialogue(self, f):
        f.write(b'220 nexthop.test ESMTP\r\n')
        txn = {'rcpts': []}
        while True:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b'EHLO':
                f.write(b'250-nexthop.test\r\n' +
                        (b'250-8BITMIME\r\n' if self.mime8 else b'') +
                        (b'250-SMTPUTF8\r\n' if self.utf8 else b'') +
                        b'250 PIPELINING\r\n')
            elif verb == b'MAIL':
                self.mails.append(line.rstrip(b'\r\n'))
                txn = {'mail': self.mails[-1], 'rcpts': [], 'data': None}
                self.txns.append(txn)
                f.write(b'250 2.1.0 ok\r\n')
            elif verb == b'RCPT':
                addr = line[8:].strip().split(b' ')[0].strip(b'<>')
                if addr.decode('utf-8', 'replace') in self.refuse:
                    f.write(b'550 5.1.1 no such user here\r\n')
                else:
                    txn['rcpts'].append(addr.decode('utf-8', 'replace'))
                    f.write(b'250 2.1.5 ok\r\n')
            elif verb == b'DATA' and not txn['rcpts']:
                f.write(b'554 5.5.1 no valid recipients\r\n')
            elif verb == b'DATA':
                f.write(b'354 go\r\n')
                body = b''
                while (line := f.readline()) not in (b'.\r\n', b''):
                    body += line
                self.bodies.append(body)
                txn['data'] = body
                f.write(b'250 2.0.0 queued\r\n')
            elif verb == b'QUIT':
                f.write(b'221 bye\r\n')
                return
            else:
                f.write(b'250 ok\r\n')

    def close(self):
        self.stop.set()


def send(port, utf8):
    c = Raw(port)
    try:
        c.reply()
        c.cmd(b'EHLO client.test\r\n')
        code, _ = c.cmd(b'MAIL FROM:<a@example.com> BODY=8BITMIME' +
                        (b' SMTPUTF8' if utf8 else b'') + b'\r\n')
        code2, _ = c.cmd(b'RCPT TO:<b@example.org>\r\n')
        c.cmd(b'DATA\r\n')
        code3, _ = c.cmd(MSG + b'.\r\n')
        c.cmd(b'QUIT\r\n')
        return (code, code2, code3)
    finally:
        c.close()


def sent(hop, inst, n):
    ok = wait_until(lambda: len(hop.mails) >= n, 30)
    return hop.mails[n - 1] if ok else inst.log_tail()


def main():
    hop = NextHop()
    try:
        with Instance(sink=hop, conf_overrides={'conn_cache_max': 0}) as inst:
            check('smtputf8: the client is taken',
                  send(inst.port, True) == (250, 250, 250))
            m = sent(hop, inst, 1)
            check('smtputf8: asked of a next hop that offers it',
                  isinstance(m, bytes) and m.endswith(b' SMTPUTF8'), m)
            send(inst.port, False)
            m = sent(hop, inst, 2)
            check('smtputf8: not asked when the client did not',
                  isinstance(m, bytes) and b'SMTPUTF8' not in m, m)
            hop.utf8 = False
            send(inst.port, True)
            m = sent(hop, inst, 3)
            check('smtputf8: ASCII addresses go to a next hop without it',
                  isinstance(m, bytes) and b'SMTPUTF8' not in m and
                  m.startswith(b'MAIL FROM:<a@example.com>'), m)
    finally:
        hop.close()


if __name__ == '__main__':
    main()
    finish()
