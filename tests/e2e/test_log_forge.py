#!/usr/bin/python3
"""test_log_forge.py: a client cannot fake the keys relayctl log
searches.  Two sessions, with HELO 'from=<victim@example.com>' and
'[10.9.8.7]', send one message each; relayctl log --from
victim@example.com and --ip 10.9.8.7 find nothing, while the real
sender finds the messages and the lines shown have the HELO readable."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish, wait_until  # noqa: E402

HELOS = (b'from=<victim@example.com>', b'[10.9.8.7]')


def send(inst, helo):
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO ' + helo + b'\r\n')
    r.cmd(b'MAIL FROM:<real@example.com>\r\n')
    r.cmd(b'RCPT TO:<rcpt@example.org>\r\n')
    r.cmd(b'DATA\r\n')
    code, text = r.cmd(b'Subject: forge\r\n\r\nforge\r\n.\r\n')
    r.close()
    return code


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        for helo in HELOS:
            check('HELO %s: message accepted' % helo.decode(),
                  send(inst, helo) == 250)
        check('both arrive', sink.wait_for(2, 60), inst.log_tail())
        wait_until(lambda: 'real@example.com' in inst.log(), 10)
        r = inst.relayctl('log', '--from', 'victim@example.com')
        check('--from victim@example.com: nothing (exit 1)',
              r.returncode == 1, r.stdout)
        r = inst.relayctl('log', '--ip', '10.9.8.7')
        check('--ip 10.9.8.7: nothing (exit 1)', r.returncode == 1,
              r.stdout)
        r = inst.relayctl('log', '--from', 'real@example.com')
        check('--from real@example.com: found', r.returncode == 0 and
              'result=queued' in r.stdout, r.stdout)
        for helo in HELOS:
            check('HELO %s is shown decoded' % helo.decode(),
                  'helo=' + helo.decode() in r.stdout, r.stdout)
        check('the raw log holds it encoded',
              'helo=from%3D%3Cvictim@example.com%3E' in inst.log() and
              'helo=%5B10.9.8.7%5D' in inst.log(), inst.log_tail())
    finish()


if __name__ == '__main__':
    main()
