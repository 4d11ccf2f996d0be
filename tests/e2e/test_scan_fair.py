#!/usr/bin/python3
"""test_scan_fair.py: the content scan takes customers in turn.  With a
slow scanner (tests/e2e/fakescan.py, 3 s a scan: an overloaded rspamd)
customer "example" sends a burst of 48 messages; once 16 of them have
started their scan and the rest wait for the 8 scan threads, customer
"other" sends one.  Its scan is among the next to start (one per
customer waiting, in turn), not after the whole burst: at most one of
example's scans starts between its arrival and its own (or a round of 8
more when sending it took over 3 s; all 32 used to).  The order comes
from the fake scanner (the envelope sender of each request, in the
order they arrived), so the test does not depend on how fast the
machine is.  Every message of both is then delivered once."""
import os
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakescan import FakeScan  # noqa: E402
from harness import (Instance, Sink, check, finish, smtp_session,  # noqa: E402
                     wait_until)

RULES = """\
customer example licenses=1000 scan=score
domain example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.0/24
customer other licenses=1000 scan=score
domain other.com customer=other
rule other lan senders=domain auth=ip
ip other lan 127.0.1.0/24
"""
BURST = 48


def send(inst, ip, sender, tag, out):
    t0 = time.time()
    try:
        with smtp_session(inst.port, source_ip=ip) as c:
            c.ehlo('host.' + sender.split('@')[1])
            c.sendmail(sender, ['someone@example.org'],
                       b'Subject: %s\r\nMessage-ID: <%s@x>\r\n\r\nhello\r\n'
                       % (tag, tag))
        out[tag] = (250, time.time() - t0)
    except (smtplib.SMTPException, OSError) as e:
        out[tag] = (repr(e)[:80], time.time() - t0)


def copies(sink, tag):
    return len([m for m in list(sink.messages)
                if b'Message-ID: <%s@' % tag in m.data])


def main():
    with Sink() as sink, FakeScan(delay=3) as fake, \
         Instance(sink=sink, rules_text=RULES,
                  conf_overrides={'scan_rspamd': fake.addr,
                                  'scan_timeout': 60,
                                  'conn_max': 200}) as inst:
        out = {}
        tags = [b'a%d' % i for i in range(BURST)]
        ths = [threading.Thread(target=send, args=(
            inst, '127.0.0.1', 'p@example.com', tag, out)) for tag in tags]
        for t in ths:
            t.start()
        # the burst is in, its second round of 8 has just started: the
        # next round starts in 3 s, which leaves time to send
        check('the burst fills the scan threads',
              wait_until(lambda: len(fake.order) >= 16, 30),
              str(len(fake.order)))
        before = len(fake.order)
        send(inst, '127.0.1.1', 'b@other.com', b'b1', out)
        for t in ths:
            t.join(120)
        order = list(fake.order)
        pos = order.index('b@other.com') if 'b@other.com' in order else -1
        between = pos - before
        print('# other: %s after %.1fs; %d of example\'s scans had started '
              'before it came, %d started after it came and before its own'
              % (out[b'b1'][0], out[b'b1'][1], before, between), flush=True)
        check('the burst was still waiting when other sent',
              before < BURST - 16, '%d scanned before' % before)
        check('other\'s message was scanned', pos >= 0, str(order))
        check('other\'s scan started before the rest of the burst (%d of '
              'example\'s started between)' % between, 0 <= between <= 9,
              str(order))
        check('other: 250', out[b'b1'][0] == 250, str(out[b'b1']))
        check('example\'s burst: all 250',
              all(out.get(t, (0,))[0] == 250 for t in tags),
              [(t, out.get(t)) for t in tags if out.get(t, (0,))[0] != 250])
        check('every message delivered once',
              wait_until(lambda: all(copies(sink, t) == 1
                                     for t in tags + [b'b1']), 60))
    finish()


if __name__ == '__main__':
    main()
