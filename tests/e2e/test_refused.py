#!/usr/bin/python3
"""test_refused.py: what the relay must refuse, and that nothing of it
reaches the receiving server.
  - a client IP outside the rules (the client bound to 127.0.0.2) gets
    550 5.7.0, with a sender of the customer's own domain;
  - DATA with a bare LF (and with a bare CR) is refused with a 5xx;
  - a marker message sent afterwards arrives, and only it."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish, smtp_session  # noqa: E402

FROM = b'sender@example.com'


def first_refusal(r, rcpt):
    """Run a transaction up to DATA; the first reply that is not 2xx/3xx."""
    code, text = r.reply()
    if code >= 400:
        return code, text
    for cmd in (b'EHLO client.example.com\r\n',
                b'MAIL FROM:<' + FROM + b'>\r\n',
                b'RCPT TO:<' + rcpt + b'>\r\n', b'DATA\r\n'):
        code, text = r.cmd(cmd)
        if code >= 400:
            return code, text
    return code, text


def test_foreign_ip(inst):
    try:
        r = Raw(inst.port, source_ip='127.0.0.2')
    except OSError as e:
        check('127.0.0.2: can connect', False, e)
        return
    try:
        code, text = first_refusal(r, b'victim@example.org')
    except EOFError as e:
        code, text = 0, [str(e)]
    r.close()
    joined = ' '.join(text)
    check('127.0.0.2 (not in the rules): 550 5.7.0', code == 550 and
          joined.startswith('5.7.0'), '%s %s' % (code, joined))
    check('127.0.0.2: the reply names the client IP', '127.0.0.2' in joined,
          joined)


def bad_data(inst, name, body):
    r = Raw(inst.port)
    code, text = first_refusal(r, b'bad-' + name.encode() + b'@example.org')
    check('%s: DATA reaches 354' % name, code == 354, '%s %s' % (code, text))
    if code != 354:
        r.close()
        return
    try:
        code, text = r.cmd(b'Subject: ' + name.encode() + b'\r\n\r\n' + body +
                           b'\r\n.\r\n')
    except (EOFError, OSError) as e:
        code, text = 0, [str(e)]
    r.close()
    check('%s: refused with 5xx' % name, 500 <= code < 600,
          '%s %s' % (code, text))


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        test_foreign_ip(inst)
        bad_data(inst, 'bare-LF', b'line one\nline two')
        bad_data(inst, 'bare-CR', b'line one\rline two')
        bad_data(inst, 'bare-LF-dot', b'smuggle\n.\nMAIL FROM:<x@example.com>')
        marker = (b'Subject: marker\r\nMessage-ID: <marker@test>\r\n\r\n'
                  b'only this one\r\n')
        with smtp_session(inst.port) as c:
            check('marker: accepted',
                  c.sendmail(FROM.decode(), ['marker@example.org'],
                             marker) == {})
        check('marker: arrives', sink.wait_for(1, 60), inst.log_tail())
        time.sleep(2)
        got = [m.rcpts for m in sink.messages]
        check('nothing refused reached the sink', got == [['marker@example.org']],
              got)
        check('nothing refused is left in the queue',
              inst.wait_queue_empty(10) and inst.queue_count('hold') == 0,
              'new/ %d, hold/ %d' % (inst.queue_count(),
                                     inst.queue_count('hold')))
    finish()


if __name__ == '__main__':
    main()
