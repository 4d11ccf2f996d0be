#!/usr/bin/python3
"""test_scan_answers.py: a scanner's answer whose score is not a finite
number ("score": nan, inf, 1e999, a string) is no verdict: the scan has
failed and scan_fail applies.  Under scan_fail = defer the client hears
451 4.3.0 and nothing is queued (a nan used to pass as clean, a message
that a scan=reject customer had rated spam relayed); under pass it is
relayed unscanned, logged as a failed scan.  A fake scanner gives the
answers (tests/e2e/fakescan.py)."""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakescan import FakeScan  # noqa: E402
from harness import (Instance, Sink, check, finish, smtp_session,  # noqa: E402
                     wait_until)

RULES = """\
customer example licenses=1000 scan=reject
domain example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.1/32
"""

ODD = [
    ('nan', b'{"score": nan, "action": "reject", "symbols": {"GTUBE": {}}}'),
    ('inf', b'{"score": inf, "action": "reject", "symbols": {}}'),
    ('-inf', b'{"score": -inf, "action": "reject", "symbols": {}}'),
    ('1e999', b'{"score": 1e999, "action": "reject", "symbols": {}}'),
    ('string', b'{"score": "15", "action": "reject", "symbols": {}}'),
    ('hex', b'{"score": 0x10, "action": "reject", "symbols": {}}'),
]


def send(inst, tag):
    """(code, text) of the reply to the final dot."""
    with smtp_session(inst.port, source_ip='127.0.0.1') as c:
        c.ehlo('host.example.com')
        c.mail('a@example.com')
        c.rcpt('someone@example.org')
        try:
            code, text = c.data(b'Subject: %s\r\nMessage-ID: <%s@example.com>'
                                b'\r\n\r\nhello\r\n' % (tag, tag))
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error
        return code, text.decode(errors='replace')


def run(sink, fail):
    with FakeScan() as fake, \
         Instance(sink=sink, rules_text=RULES,
                  conf_overrides={'scan_rspamd': fake.addr,
                                  'scan_fail': fail}) as inst:
        for n, (name, body) in enumerate(ODD, 1):
            fake.body = body
            code, text = send(inst, name.encode())
            if fail == 'defer':
                check('score %s, scan_fail=defer: 451 4.3.0 Content scan '
                      'unavailable' % name, code == 451 and
                      text.startswith('4.3.0 Content scan unavailable'),
                      '%s %s' % (code, text))
                check('score %s, defer: nothing queued' % name,
                      inst.queue_count() == 0, inst.log_tail(10))
            else:
                check('score %s, scan_fail=pass: relayed unscanned' % name,
                      code == 250, '%s %s' % (code, text))
            failed = r"scan=failed: .*answer does not parse " \
                r"\(scan_fail = %s\)" % fail
            check('score %s: logged as a failed scan, not clean' % name,
                  wait_until(lambda: len(re.findall(failed, inst.log()))
                             >= n, 10) and 'scan=clean' not in inst.log(),
                  inst.log_tail(10))


def main():
    with Sink() as sink:
        run(sink, 'defer')
        run(sink, 'pass')
    finish()


if __name__ == '__main__':
    main()
