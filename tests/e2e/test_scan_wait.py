#!/usr/bin/python3
"""test_scan_wait.py: the content scan never outlasts the client's wait.
relay-smtpd waits data_timeout for relay-queue's answer and then says 451;
a message committed after that would be delivered although its client
sends it again (a duplicate).  With a fake scanner (tests/e2e/fakescan.py)
that is slower than the wait:

- late: scan_timeout 30 s, data_timeout 6 s, a scanner answering after
  9 s, scan_fail = pass: relay-queue cuts the scan at its budget (90% of
  data_timeout) and answers "451 4.3.2 Content scanner busy" itself; the
  message is never delivered, not even once the scanner has answered.
- gone: the client's relay-smtpd dies during the scan (killed): the
  message, never acknowledged, is not committed when the verdict comes.
- bound: a scanner taking 3 s, scan_timeout 4, data_timeout 20: of a
  burst of 56 messages those that would get their verdict after the wait
  if every scan took scan_timeout are refused at once with 451 4.3.2;
  every 250 is delivered once, no 451 ever is (all 56 scanned in turn
  would take 21 s: the last ones used to be told 451 and delivered).
- relay-smtpd's own 451, when relay-queue does not answer in time, no
  longer says "queue file write error"."""
import os
import re
import signal
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
"""
BUSY = '4.3.2 Content scanner busy'


def send(inst, tag, out=None):
    """(code, text, seconds from DATA to its answer) of the reply to the
    final dot; code 0 when the connection was lost.  Into out[tag] too
    when given."""
    t0 = time.time()
    try:
        with smtp_session(inst.port, source_ip='127.0.0.1') as c:
            c.ehlo('dev.example.com')
            c.mail('p@example.com')
            c.rcpt('someone@example.org')
            t0 = time.time()
            try:
                code, text = c.data(b'Subject: %s\r\nMessage-ID: <%s@example'
                                    b'.com>\r\n\r\nhello\r\n' % (tag, tag))
            except smtplib.SMTPDataError as e:
                code, text = e.smtp_code, e.smtp_error
        r = (code, text.decode(errors='replace'), time.time() - t0)
    except (smtplib.SMTPException, OSError) as e:
        r = (0, repr(e), time.time() - t0)
    if out is not None:
        out[tag] = r
    return r


def copies(sink, tag):
    return len([m for m in list(sink.messages)
                if b'Message-ID: <%s@' % tag in m.data])


def test_late(sink):
    with FakeScan(delay=9) as fake, \
         Instance(sink=sink, rules_text=RULES,
                  conf_overrides={'scan_rspamd': fake.addr,
                                  'scan_timeout': 30, 'data_timeout': 6,
                                  'scan_fail': 'pass'}) as inst:
        code, text, took = send(inst, b'late1')
        check('late: 451 4.3.2 Content scanner busy, from relay-queue '
              'before relay-smtpd gives up', code == 451 and
              text.startswith(BUSY), '%s %s after %.1fs' % (code, text, took))
        check('late: logged', inst.wait_log(
            r'scan=late: no verdict within the client\'s wait', 5),
            inst.log_tail(10))
        wait_until(lambda: fake.active == 0 and fake.order, 15)
        time.sleep(3)
        check('late: never delivered, not even after the scanner answered',
              copies(sink, b'late1') == 0 and inst.queue_count() == 0,
              inst.log_tail(20))


def test_gone(sink):
    with FakeScan(delay=4) as fake, \
         Instance(sink=sink, rules_text=RULES,
                  conf_overrides={'scan_rspamd': fake.addr}) as inst:
        out = {}
        t = threading.Thread(target=send, args=(inst, b'gone1', out))
        t.start()
        check('gone: the scan started',
              wait_until(lambda: fake.active == 1, 20))
        for pid in inst.pids(['relay-smtpd']):
            os.kill(pid, signal.SIGKILL)
        t.join(30)
        check('gone: the client lost its session without an answer',
              out.get(b'gone1', (None,))[0] == 0, str(out))
        wait_until(lambda: fake.active == 0, 15)
        check('gone: logged', inst.wait_log(
            r'scan=late: the client hung up before the verdict', 5),
            inst.log_tail(10))
        time.sleep(3)
        check('gone: the message nobody acknowledged is not delivered',
              copies(sink, b'gone1') == 0 and inst.queue_count() == 0,
              inst.log_tail(20))


def test_bound(sink):
    with FakeScan(delay=3) as fake, \
         Instance(sink=sink, rules_text=RULES,
                  conf_overrides={'scan_rspamd': fake.addr,
                                  'scan_timeout': 4, 'data_timeout': 20,
                                  'conn_max': 200}) as inst:
        out = {}
        tags = [b'burst%d' % i for i in range(56)]
        ths = [threading.Thread(target=send, args=(inst, tag, out))
               for tag in tags]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        ok = [t for t in tags if out.get(t, (0,))[0] == 250]
        busy = [t for t in tags if out.get(t, (0,))[0] == 451 and
                out[t][1].startswith(BUSY)]
        # refused at once (logged scan=busy), not after a wait (scan=late):
        # the log, not a clock, tells them apart
        at_once = len(re.findall(r'scan=busy: its verdict could come after '
                                 r'the client', inst.log()))
        late = len(re.findall(r'scan=late: ', inst.log()))
        print('# bound: %d taken, %d refused at once, %d late; slowest '
              'refusal %.1fs' % (len(ok), at_once, late, max(
                  [out[t][2] for t in busy] or [0])), flush=True)
        check('bound: every reply is 250 or 451 4.3.2 busy',
              len(ok) + len(busy) == len(tags),
              sorted(set(v[:2] for v in out.values())))
        check('bound: the messages beyond the bound are refused at once',
              at_once >= 1 and at_once + late == len(busy),
              'ok %d, busy %d, at once %d, late %d'
              % (len(ok), len(busy), at_once, late))
        check('bound: the scanner is used (%d taken)' % len(ok),
              len(ok) >= 16, str(out))
        wait_until(lambda: fake.active == 0 and all(
            copies(sink, t) for t in ok), 60)
        time.sleep(2)
        check('bound: every 250 delivered once',
              all(copies(sink, t) == 1 for t in ok),
              [t for t in ok if copies(sink, t) != 1])
        check('bound: no 451 delivered',
              not [t for t in tags if t not in ok and copies(sink, t)],
              [t for t in tags if t not in ok and copies(sink, t)])


def test_noanswer(sink):
    """relay-queue stopped (SIGSTOP) after the DATA: relay-smtpd's 451
    after data_timeout says what it knows."""
    with Instance(sink=sink, rules_text=RULES,
                  conf_overrides={'data_timeout': 3}) as inst:
        pids = inst.pids(['relay-queue'])
        out = {}
        t = threading.Thread(target=send, args=(inst, b'stop1', out))
        try:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            t.start()
            t.join(30)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        code, text, _ = out.get(b'stop1', (0, '', 0))
        check('no answer from relay-queue: 451 4.3.0 that says so',
              code == 451 and text.startswith('4.3.0') and
              'no answer from the queue' in text and
              'write error' not in text, '%s %s' % (code, text))


def main():
    with Sink() as sink:
        test_late(sink)
        test_gone(sink)
        test_bound(sink)
        test_noanswer(sink)
    finish()


if __name__ == '__main__':
    main()
