#!/usr/bin/python3
"""test_queue_refusal.py: when relay-queue refuses a message for good
(status 100 with reason=envelope, here a HELO name with a control byte,
which relay-smtpd passes on and relay-queue will not write into a queue
file), the client hears a permanent 5xx, not 451: it must not retry
forever.  A temporary failure stays 4xx (test_disk_full.py: 452 4.3.1
from reason=nospace)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, finish  # noqa: E402
from certs import check, run_steps  # noqa: E402


def test_control_helo(inst, sink):
    r = Raw(inst.port)
    r.reply()
    code, _ = r.cmd(b'EHLO a\x01b.example.com\r\n')
    if code >= 500:  # refused at once: permanent too, nothing to queue
        check('HELO with a control byte: refused for good (%d)' % code, True)
        return
    r.cmd(b'MAIL FROM:<sender@example.com>\r\n')
    r.cmd(b'RCPT TO:<to@example.org>\r\n')
    code, _ = r.cmd(b'DATA\r\n')
    code, lines = r.cmd(b'Subject: x\r\nMessage-ID: <ctl@refusal.test>\r\n'
                        b'\r\nhi\r\n.\r\n')
    check('queue refusal for good (HELO with a control byte): 554 5.5.4, not 451',
          code == 554 and lines[0].startswith('5.5.4'), (code, lines))
    code, _ = r.cmd(b'QUIT\r\n')
    check('the session goes on (QUIT 221)', code == 221, code)
    r.close()
    deadline = time.time() + 10  # smtpd's lines come at the session's end
    while time.time() < deadline and 'result=queue-refused' not in inst.log():
        time.sleep(0.1)
    log = inst.log()
    check('logged with its reason and as queue-refused',
          'reason=envelope' in log and 'result=queue-refused' in log, log[-1500:])
    check('nothing delivered', not any(b'<ctl@refusal.test>' in m.data
                                       for m in list(sink.messages)))


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        run_steps(lambda: test_control_helo(inst, sink))
    finish()


if __name__ == '__main__':
    main()
