#!/usr/bin/python3
"""test_queue_show_escape.py: relayctl queue show/list print no raw
escape sequence.  A message whose Subject holds terminal escapes (CSI
clear-screen, an OSC title ended by BEL) and whose HELO and remote reply
are plain is deferred; queue show prints its headers with the escapes
as \\xHH and the rest of the text as it was, and queue list prints no
control byte either."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish  # noqa: E402

SUBJECT = b'Subject: hi \x1b[2J\x1b]0;pwned\x07 there \xc3\xb6\r\n'


def send(inst):
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO client.example.com\r\n')
    r.cmd(b'MAIL FROM:<a@example.com> SMTPUTF8\r\n')
    r.cmd(b'RCPT TO:<stuck@example.org>\r\n')
    r.cmd(b'DATA\r\n')
    code, text = r.cmd(SUBJECT + b'X-Other: plain\r\n\r\nbody\r\n.\r\n')
    r.close()
    return code


def no_controls(text):
    return not any(ord(c) < 0x20 and c not in '\t\n' or ord(c) == 0x7f
                   for c in text)


def main():
    with Sink(codes={'stuck@example.org': 451}) as sink, \
            Instance(sink=sink, conf_overrides={'retry_min': 3600,
                                                'retry_max': 3600}) as inst:
        check('message accepted', send(inst) == 250)
        check('deferred once', inst.wait_log(
            r'relay-send.*to=<stuck@example.org>.*deferred', 30),
            inst.log_tail())
        ids = os.listdir(inst.path('queue/new'))
        check('one message queued', len(ids) == 1, repr(ids))
        if len(ids) != 1:
            finish()
        r = inst.relayctl('queue', 'show', ids[0])
        out = r.stdout
        check('show: exit 0', r.returncode == 0, r.stderr)
        check('show: no ESC, BEL or other control byte', no_controls(out),
              repr(out))
        check('show: the escapes as \\xHH, the rest readable',
              'Subject: hi \\x1B[2J\\x1B]0;pwned\\x07 there \u00f6' in out,
              repr(out))
        check('show: other headers as they were', 'X-Other: plain' in out,
              repr(out))
        r = inst.relayctl('queue', 'list')
        check('list: no control byte', r.returncode == 0 and
              no_controls(r.stdout), repr(r.stdout))
    finish()


if __name__ == '__main__':
    main()
