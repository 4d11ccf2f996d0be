#!/usr/bin/python3
"""test_behaviour_replies.py: replies whose text doc/BEHAVIOUR.md states
are the ones the relay sends, word for word (test_behaviour_doc.py
compares codes only).

Shows, on the wire: DATA and BDAT after every RCPT was refused,
MAIL/RCPT without FROM:/TO:, and DATA with an argument each get the
reply that doc/BEHAVIOUR.md gives for that case, and that reply is
written there in full (in backquotes, in §2.5 or §5)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Instance, Raw, Sink, finish  # noqa: E402
from certs import check, run_steps  # noqa: E402

FROM = 'sender@example.com'


def doc():
    """The text, its line breaks and indents made single spaces."""
    with open(os.path.join(ROOT, 'doc', 'BEHAVIOUR.md')) as f:
        return ' '.join(f.read().split())


def line(reply):
    code, lines = reply
    return '%d %s' % (code, lines[-1])


def session(inst):
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO c.example.com\r\n')
    return r


def expect(what, got, want):
    check('%s: %s' % (what, want), got == want, got)
    check('doc/BEHAVIOUR.md states `%s`' % want, '`%s`' % want in doc())


def test_no_valid_recipient(inst):
    r = session(inst)
    r.cmd(b'MAIL FROM:<%s>\r\n' % FROM.encode())
    code, _ = r.cmd(b'RCPT TO:<a%b@example.org>\r\n')
    check('RCPT with % routing refused', code == 553, code)
    expect('DATA after every RCPT was refused', line(r.cmd(b'DATA\r\n')),
           '503 5.5.1 Error: need RCPT command')
    # the chunk is read and dropped whatever the reply (§1.4)
    expect('BDAT after every RCPT was refused',
           line(r.cmd(b'BDAT 3 LAST\r\nhi\n')),
           '503 5.5.1 Error: need RCPT command')
    r.close()


def test_syntax(inst):
    r = session(inst)
    expect('MAIL without FROM:', line(r.cmd(b'MAIL <%s>\r\n' % FROM.encode())),
           '501 5.5.4 Syntax: MAIL FROM:<address>')
    expect('MAIL without an argument', line(r.cmd(b'MAIL\r\n')),
           '501 5.5.4 Syntax: MAIL FROM:<address>')
    r.cmd(b'MAIL FROM:<%s>\r\n' % FROM.encode())
    expect('RCPT without TO:', line(r.cmd(b'RCPT <b@example.org>\r\n')),
           '501 5.5.4 Syntax: RCPT TO:<address>')
    code, _ = r.cmd(b'RCPT TO:<b@example.org>\r\n')
    check('a good RCPT after it: 250', code == 250, code)
    expect('DATA with an argument', line(r.cmd(b'DATA now\r\n')),
           '501 5.5.4 Syntax: DATA')
    r.close()


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        run_steps(lambda: test_no_valid_recipient(inst),
                  lambda: test_syntax(inst))
    finish()


if __name__ == '__main__':
    main()
