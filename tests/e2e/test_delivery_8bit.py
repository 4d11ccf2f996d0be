#!/usr/bin/python3
"""test_delivery_8bit.py: 8-bit data never goes raw to a next hop that
does not offer 8BITMIME (RFC 6152 3).  relaybox does not convert it to
7 bits (that would break the DKIM signatures too): the recipients bounce
with 554 5.6.3 (man/relay-remote.8).

- next hop without 8BITMIME: a 7-bit message is delivered (no BODY=);
  a message with 8-bit data (caf\\xc3\\xa9) is not sent, its recipient
  bounces 5.6.3;
- next hop with 8BITMIME: the 8-bit message goes with BODY=8BITMIME.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, check, finish, wait_until  # noqa: E402
from test_delivery_smtputf8 import NextHop  # noqa: E402

SEVEN = b'From: a@example.com\r\nSubject: plain\r\n\r\nseven bits\r\n'
EIGHT = b'From: a@example.com\r\nSubject: e\r\n\r\ncaf\xc3\xa9 8bitmark\r\n'


def send(port, rcpt, msg):
    """The reply to the message's end (its data as the client sends it,
    with no BODY= declared: relay-smtpd accepts that)."""
    c = Raw(port)
    try:
        c.reply()
        c.cmd(b'EHLO client.test\r\n')
        c.cmd(b'MAIL FROM:<a@example.com>\r\n')
        c.cmd(b'RCPT TO:<' + rcpt + b'>\r\n')
        c.cmd(b'DATA\r\n')
        code, _ = c.cmd(msg + b'.\r\n')
        c.cmd(b'QUIT\r\n')
        return code
    finally:
        c.close()


def bounced(inst, rcpt):
    """relay-remote's result line for rcpt: bounced with 5.6.3."""
    return any('to=<%s>' % rcpt in line and 'status=bounced' in line and
               '5.6.3' in line for line in inst.log().splitlines())


def main():
    hop = NextHop()
    hop.mime8 = False
    try:
        with Instance(sink=hop, conf_overrides={'conn_cache_max': 0}) as inst:
            check('8bit: both messages taken',
                  send(inst.port, b'seven@example.org', SEVEN) == 250 and
                  send(inst.port, b'eight@example.org', EIGHT) == 250)
            check('8bit: the 7-bit message is delivered without BODY=',
                  wait_until(lambda: any(b'seven bits' in b
                                         for b in hop.bodies), 30) and
                  b'BODY=' not in hop.mails[0], repr(hop.mails))
            check('8bit: the 8-bit recipient bounces 5.6.3',
                  wait_until(lambda: bounced(inst, 'eight@example.org'), 30),
                  inst.log_tail())
            check('8bit: no 8-bit data went to the next hop',
                  not any(b'8bitmark' in b for b in hop.bodies),
                  repr(hop.bodies))
            hop.mime8 = True
            n = len(hop.mails)
            send(inst.port, b'later@example.org', EIGHT)
            check('8bit: with 8BITMIME it goes, declared',
                  wait_until(lambda: any(b'8bitmark' in b
                                         for b in hop.bodies), 30) and
                  hop.mails[n].endswith(b'BODY=8BITMIME'), repr(hop.mails))
    finally:
        hop.close()


if __name__ == '__main__':
    main()
    finish()
