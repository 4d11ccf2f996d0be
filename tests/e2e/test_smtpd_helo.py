#!/usr/bin/python3
"""test_smtpd_helo.py: an odd HELO/EHLO name with 8-bit bytes (a device
named in Latin-1 or UTF-8, or bytes that are neither) is accepted, as
real devices send it, and the Received: field relaybox writes stays
ASCII: those bytes are written %XX (RFC 5322 header fields are ASCII,
and a 7-bit message must not become an 8-bit one for relaybox's own
header)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish, wait_until  # noqa: E402

NAMES = ((b'EHLO', b'caf\xe9.example', b'caf%E9.example'),
         (b'HELO', b'b\xc3\xbcro.example', b'b%C3%BCro.example'),
         (b'EHLO', b'x\xff\xfe', b'x%FF%FE'))


def relay(inst, verb, name, tag):
    r = Raw(inst.port)
    try:
        r.reply()
        codes = [r.cmd(verb + b' ' + name + b'\r\n')[0]]
        for c in (b'MAIL FROM:<a@example.com>\r\n',
                  b'RCPT TO:<h@example.org>\r\n', b'DATA\r\n',
                  b'Subject: ' + tag + b'\r\n\r\nx\r\n.\r\n'):
            codes.append(r.cmd(c)[0])
        r.cmd(b'QUIT\r\n')
    finally:
        r.close()
    return codes


def received_of(sink, tag):
    for m in sink.messages:
        if b'Subject: ' + tag + b'\r\n' in m.data:
            head = m.data.split(b'\r\n\r\n', 1)[0]
            return head.split(b'\r\nSubject:', 1)[0]  # relaybox's field
    return None


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        for i, (verb, name, want) in enumerate(NAMES):
            tag = b'helo%d' % i
            codes = relay(inst, verb, name, tag)
            check('%s %r: accepted and queued' % (verb.decode(), name),
                  codes == [250, 250, 250, 354, 250], codes)
            got = wait_until(lambda: received_of(sink, tag), 30) and \
                received_of(sink, tag)
            check('%r: Received: from %s' % (name, want.decode()),
                  got and got.startswith(b'Received: from ' + want + b' ('),
                  got)
            check('%r: the Received: field is ASCII' % name,
                  got and all(b < 0x80 for b in got), got)
    finish()


if __name__ == '__main__':
    main()
