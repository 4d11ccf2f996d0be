#!/usr/bin/python3
"""test_metrics_utf8.py: a recipient's domain never makes /metrics
unreadable (the text format requires UTF-8 label values, and one bad
value voids the whole scrape: every metric and alert goes blind).

- under SMTPUTF8 an address that is not UTF-8 (a@bad\\xff.example) is
  refused with 553 5.6.7 (lib/addr.c);
- a valid internationalised domain longer than the destination label
  (a U-label of 2-byte characters) is accepted and delivered, and its
  destination label is cut between two characters;
- `promtool check metrics` passes on the scrape afterwards.
"""
import os
import re
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Raw, Sink, check, finish,  # noqa: E402
                     free_port, wait_until)

RULES = """\
customer one licenses=10 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""
BAD = b'a@bad\xff.example'
LONG_DOMAIN = ('\u00e9' * 20 + '.x' + '\u00e9' * 20 + '.example').encode()
LONG = b'a@' + LONG_DOMAIN


def scrape(url):
    """The exposition as bytes ("" when unreachable): it may not be
    UTF-8, which is what this test looks for."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read()
    except OSError:
        return b''


def send(port, rcpt):
    """The reply code to RCPT; the message is sent when it was taken."""
    c = Raw(port)
    try:
        c.reply()
        c.cmd(b'EHLO client.test\r\n')
        c.cmd(b'MAIL FROM:<a@one.example> SMTPUTF8\r\n')
        code, text = c.cmd(b'RCPT TO:<' + rcpt + b'>\r\n')
        if code == 250:
            c.cmd(b'DATA\r\n')
            c.cmd(b'Subject: x\r\n\r\nx\r\n.\r\n')
        c.cmd(b'QUIT\r\n')
        return code, text
    finally:
        c.close()


def is_utf8(b):
    try:
        b.decode('utf-8', 'strict')
        return True
    except UnicodeDecodeError:
        return False


def results(text):
    """The sum of relay_deliveries_total over its results."""
    return sum(float(v) for v in re.findall(
        rb'^relay_deliveries_total\{[^}]*\} (\S+)$', text, re.M))


def main():
    mport = free_port()
    with Sink() as sink, Instance(sink=sink, rules_text=RULES, conf_overrides={
            'metrics_listen': '127.0.0.1:%d' % mport}) as inst:
        url = 'http://127.0.0.1:%d/metrics' % mport
        code, text = send(inst.port, BAD)
        check('utf8: a non-UTF-8 address under SMTPUTF8 is refused 553 5.6.7',
              code == 553 and text[0].startswith('5.6.7'),
              '%d %s' % (code, text))
        taken = code == 250
        code, text = send(inst.port, LONG)
        check('utf8: a long UTF-8 domain is accepted', code == 250,
              '%d %s' % (code, text))
        taken += code == 250
        body = [b'']

        def counted():
            body[0] = scrape(url)
            return results(body[0]) >= taken
        check('utf8: the deliveries are counted', wait_until(counted, 60),
              body[0][-2000:].decode(errors='replace') + inst.log_tail())
        t = body[0]
        dest = re.findall(rb'destination="([^"]*)"', t)
        long_label = [d for d in dest if d.startswith(b'\xc3\xa9')]
        check('utf8: the long destination is labelled, cut between '
              'characters', len(long_label) == 1 and
              LONG_DOMAIN.startswith(long_label[0]) and
              len(long_label[0]) < len(LONG_DOMAIN) and
              is_utf8(long_label[0]), repr(dest))
        check('utf8: the whole scrape is UTF-8', is_utf8(t),
              repr([x for x in t.splitlines() if not is_utf8(x)]))
        p = subprocess.run(['promtool', 'check', 'metrics'], input=t,
                           capture_output=True, timeout=60)
        check('utf8: promtool check metrics passes', p.returncode == 0,
              (p.stdout + p.stderr).decode(errors='replace'))


if __name__ == '__main__':
    main()
    finish()
