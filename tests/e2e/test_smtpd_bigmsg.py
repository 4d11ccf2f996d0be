#!/usr/bin/python3
"""test_smtpd_bigmsg.py: a session sending a message of 36 MB (just within
message_size_max, 35 MiB) does not hold it in memory.

Once after DATA, once as one BDAT chunk of 36 MB (CHUNKING).
relay-smtpd (a worker serving many sessions at once) hands the message on
to relay-queue in 16 KiB frames as it comes, and relay-queue writes it to
the queue file as it comes: while it flows, the PSS of the relay-smtpd
workers and of relay-queue is sampled, and neither grows by more than a
small part of the message.  The message is then queued whole and arrives
whole at the receiving server."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish  # noqa: E402

SIZE = 36 * 1000 * 1000          # within message_size_max (36,700,160)
LINE = b'x' * 78 + b'\r\n'       # 80 bytes a line
CHUNK = LINE * (1024 * 1024 // len(LINE))
# KiB a process may grow while the message flows: its buffers, the
# allocator's slack, ASan's quarantine; the message is 35,156 KiB
GROWTH_MAX = 4096


def sample(inst):
    return (inst.pss_kib(('relay-smtpd',)), inst.pss_kib(('relay-queue',)))


def send_big(inst, bdat):
    """The 36 MB message through one session, after DATA or as one BDAT
    chunk; the PSS samples taken while it flowed, and the reply to its
    end."""
    how = 'BDAT' if bdat else 'DATA'
    r = Raw(inst.port, timeout=120)
    r.reply()
    r.cmd(b'EHLO big.example.com\r\n')
    check('%s: MAIL 250' % how,
          r.cmd(b'MAIL FROM:<a@example.com> SIZE=%d\r\n' % SIZE)[0] == 250)
    check('%s: RCPT 250' % how,
          r.cmd(b'RCPT TO:<x@example.org>\r\n')[0] == 250)
    head = b'Subject: big\r\n\r\n'
    if bdat:
        r.send(b'BDAT %d LAST\r\n' % SIZE)
    else:
        check('DATA 354', r.cmd(b'DATA\r\n')[0] == 354)
    r.send(head)
    sent, samples = len(head), []
    while sent + len(CHUNK) <= SIZE:
        r.send(CHUNK)
        sent += len(CHUNK)
        if len(samples) < sent * 8 // SIZE:  # eight times on the way
            samples.append(sample(inst))
    rest = SIZE - sent
    r.send(LINE * (rest // len(LINE)) + b'y' * (rest % len(LINE) - 2 if
                                                rest % len(LINE) >= 2 else 0)
           + (b'\r\n' if rest % len(LINE) >= 2 else b''))
    code, text = r.reply() if bdat else r.cmd(b'.\r\n')
    r.cmd(b'QUIT\r\n')
    r.close()
    return samples, code, text


def one_big(inst, sink, bdat, n):
    """The n-th big message: sent, bounded while it flowed, arrived."""
    how = 'BDAT' if bdat else 'DATA'
    base = sample(inst)
    samples, code, text = send_big(inst, bdat)
    check('%s: the 36 MB message is queued (250)' % how, code == 250,
          '%d %s' % (code, text))
    grow_smtpd = max(s[0] for s in samples) - base[0]
    grow_queue = max(s[1] for s in samples) - base[1]
    print('%s: PSS while the message flowed: relay-smtpd %d KiB + %d, '
          'relay-queue %d KiB + %d (%d samples; the message %d KiB)'
          % (how, base[0], grow_smtpd, base[1], grow_queue, len(samples),
             SIZE // 1024))
    check('%s: taken while it flowed' % how, len(samples) >= 6,
          repr(samples))
    check('%s: relay-smtpd does not hold it (grew < %d KiB)'
          % (how, GROWTH_MAX), grow_smtpd < GROWTH_MAX, '%d KiB' % grow_smtpd)
    check('%s: relay-queue does not hold it (grew < %d KiB)'
          % (how, GROWTH_MAX), grow_queue < GROWTH_MAX, '%d KiB' % grow_queue)
    check('%s: it arrives whole' % how, sink.wait_for(n, 300) and
          len(sink.messages[n - 1].data) >= SIZE,
          repr([len(m.data) for m in sink.messages]))


def main():
    # the test build: ASan keeps what is freed (a frame's buffer) in
    # quarantine, 256 MB of it by default, which would look held; a small
    # quarantine leaves what the programs themselves hold
    asan = os.environ.get('ASAN_OPTIONS', '')
    os.environ['ASAN_OPTIONS'] = (asan + ':' if asan else '') + \
        'quarantine_size_mb=2'
    conf = {'smtpd_sessions_per_worker': 100, 'smtpd_workers_min': 1,
            'data_timeout': 600}
    with Sink() as sink, Instance(conf_overrides=conf, sink=sink) as inst:
        r = Raw(inst.port)
        r.reply()
        r.cmd(b'QUIT\r\n')  # the worker and its connections made
        r.close()
        for n, bdat in enumerate((False, True), 1):
            time.sleep(2.5)     # idle pages given back (coro.h)
            one_big(inst, sink, bdat, n)
    finish()


if __name__ == '__main__':
    main()
