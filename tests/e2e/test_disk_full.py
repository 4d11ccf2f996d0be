#!/usr/bin/python3
"""test_disk_full.py: a full queue disk, through SMTP.

The instance's queue_dir is a 2 MiB tmpfs.  The receiver first answers
451 to every DATA, so what is queued stays queued; messages of ~150 KB
are sent until the relay refuses DATA with a 4xx (452 4.3.1 expected:
relay-queue's ENOSPC text speaks of space).  Then:
  - every message that got 250 is in new/, whole (its last line there);
  - none that got 4xx is anywhere in the queue, and tmp/ is empty;
  - space comes back (the receiver accepts, relay-send delivers and
    removes): new messages get 250 again, and every accepted message
    arrives exactly once;
  - with the queue empty, a filler file takes all the space: 452 4.3.1,
    nothing queued, for DATA and for BDAT's LAST alike; the filler
    deleted: 250 again, and both arrive.
Needs root (mount); without it, or where mount is not allowed, a SKIP
note.  The tmpfs is unmounted in a finally block."""
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Raw, Sink, check,  # noqa: E402
                     run_on_small_queue, wait_until)

LINE = b'y' * 76 + b'\r\n'
SERIAL = re.compile(rb'^X-Disk-Serial: (\d+)\r?$', re.M)
MAX_SEND = 60           # 2 MiB / 150 KB is ~13: bounded well above


def message(serial):
    return (b'From: a@example.com\r\nTo: r@example.org\r\n'
            b'Subject: disk %d\r\nX-Disk-Serial: %d\r\n\r\n' %
            (serial, serial) + LINE * 1900 + b'end of %d\r\n' % serial)


def send(port, serial):
    """(code, text) of the message's final reply (0: no reply)."""
    try:
        with smtplib.SMTP('127.0.0.1', port, timeout=30) as c:
            c.sendmail('a@example.com', ['r%d@example.org' % serial],
                       message(serial))
        return 250, ''
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors='replace')
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        return code, text.decode(errors='replace')
    except (OSError, smtplib.SMTPException) as e:
        return 0, repr(e)


def send_bdat(port, serial):
    """The same message in two BDAT chunks; (code, text) of LAST's reply
    (the durable 250 of BEHAVIOUR.md 1.4, or the refusal)."""
    m = message(serial)
    r = Raw(port)
    try:
        r.reply()
        r.cmd(b'EHLO client.example\r\n')
        r.cmd(b'MAIL FROM:<a@example.com>\r\n')
        r.cmd(b'RCPT TO:<r%d@example.org>\r\n' % serial)
        r.cmd(b'BDAT 1000\r\n' + m[:1000])
        code, lines = r.cmd(b'BDAT %d LAST\r\n' % (len(m) - 1000) + m[1000:])
        return code, lines[0]
    except (OSError, EOFError) as e:
        return 0, repr(e)
    finally:
        r.close()


def on_disk(qdir, sub):
    """serial -> file contents for each queue file in qdir/sub."""
    out = {}
    d = os.path.join(qdir, sub)
    for name in os.listdir(d):
        with open(os.path.join(d, name), 'rb') as f:
            data = f.read()
        g = SERIAL.search(data)
        out[int(g.group(1)) if g else -1] = data
    return out


def queue_empty(qdir, timeout):
    """harness's wait_queue_empty looks in DIR/queue, not queue_dir."""
    return wait_until(lambda: not os.listdir(os.path.join(qdir, 'new')),
                      timeout)


def queue_listing(qdir):
    """What is left in the queue, with state files, for a failure."""
    out = ''
    for sub in ('new', 'state', 'tmp'):
        for name in sorted(os.listdir(os.path.join(qdir, sub))):
            path = os.path.join(qdir, sub, name)
            out += '%s/%s %d bytes\n' % (sub, name, os.path.getsize(path))
            if sub == 'state':
                with open(path, errors='replace') as f:
                    out += f.read()[-400:]
    return out


def arrived(sink):
    got = []
    with sink.lock:
        for m in sink.messages:
            g = SERIAL.search(m.data)
            if g:
                got.append(int(g.group(1)))
    return got


def fill(inst, qdir):
    """Send until DATA is refused a few times; (accepted, refused)."""
    accepted, refused = [], {}
    for serial in range(MAX_SEND):
        code, text = send(inst.port, serial)
        if code == 250:
            accepted.append(serial)
        else:
            refused[serial] = (code, text)
            if len(refused) >= 3:
                break
    return accepted, refused


def test_full(qdir):
    with Sink(data_codes=451) as sink, \
            Instance(sink=sink, conf_overrides={'queue_dir': qdir}) as inst:
        accepted, refused = fill(inst, qdir)
        print('# %d accepted before the disk was full; refusals %r' %
              (len(accepted), list(refused.values())[:3]), flush=True)
        check('full: some messages accepted first', len(accepted) >= 3,
              repr(refused))
        check('full: DATA refused with 452 4.3.1 (or 451) once full',
              refused and all(c in (451, 452) for c, _ in refused.values()),
              repr(refused))
        check('full: the refusal is 452 4.3.1',
              refused and all(c == 452 and t.startswith('4.3.1')
                              for c, t in refused.values()), repr(refused))
        new = on_disk(qdir, 'new')
        missing = [s for s in accepted if s not in new]
        torn = [s for s in accepted if s in new and
                not new[s].endswith(b'end of %d\r\n' % s)]
        check('full: every message that got 250 is whole in new/',
              not missing and not torn,
              'missing %r, torn %r' % (missing, torn))
        stray = [s for s in refused if s in new]
        check('full: no refused message in new/', not stray, repr(stray))
        check('full: tmp/ holds nothing after the refusals',
              wait_until(lambda: not os.listdir(os.path.join(qdir, 'tmp')),
                         5), repr(os.listdir(os.path.join(qdir, 'tmp'))))

        # space comes back: the receiver takes everything queued
        sink.data_codes = 250
        inst.relayctl('queue', 'flush')
        check('recovery: the queue drains',
              queue_empty(qdir, 60), queue_listing(qdir) +
              inst.log_tail())
        more = [s + 1000 for s in range(3)]
        codes = [send(inst.port, s)[0] for s in more]
        check('recovery: new messages get 250 again', codes == [250] * 3,
              repr(codes))
        want = sorted(accepted + [s for s, c in zip(more, codes)
                                  if c == 250])
        check('recovery: every accepted message arrives',
              wait_until(lambda: set(want) <= set(arrived(sink)), 60),
              inst.log_tail())
        check('recovery: queue empty', queue_empty(qdir, 30),
              queue_listing(qdir) + inst.log_tail())
        time.sleep(1)
        got = arrived(sink)
        check('recovery: each exactly once, nothing refused arrived',
              sorted(got) == want,
              'got %r\nwant %r' % (sorted(got), want))
        test_filler(inst, sink, qdir)


def fill_with_filler(qdir):
    """Write qdir/filler until the tmpfs is full (as root)."""
    path = os.path.join(qdir, 'filler')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(4096):
            os.write(fd, b'\0' * 4096)
    except OSError:
        pass        # ENOSPC: full
    finally:
        os.close(fd)
    return path


def test_filler(inst, sink, qdir):
    """An empty queue on a disk filled by something else: 452 for
    everything; once the filler is deleted, 250 and delivery."""
    filler = fill_with_filler(qdir)
    code, text = send(inst.port, 2000)
    check('filler: a full disk refuses DATA with 452 4.3.1',
          code == 452 and text.startswith('4.3.1'), '%d %s' % (code, text))
    code, text = send_bdat(inst.port, 2002)
    check('filler: BDAT LAST on a full disk gets 452 4.3.1 too',
          code == 452 and text.startswith('4.3.1'), '%d %s' % (code, text))
    check('filler: nothing queued', not os.listdir(os.path.join(qdir, 'new'))
          and not os.listdir(os.path.join(qdir, 'tmp')))
    os.unlink(filler)
    code, text = send(inst.port, 2001)
    check('filler: space back, 250 again', code == 250,
          '%d %s' % (code, text))
    code, text = send_bdat(inst.port, 2003)
    check('filler: space back, BDAT LAST 250 again', code == 250,
          '%d %s' % (code, text))
    check('filler: those messages arrive, the refused ones never',
          wait_until(lambda: {2001, 2003} <= set(arrived(sink)), 30) and
          2000 not in arrived(sink) and 2002 not in arrived(sink),
          inst.log_tail())


def main():
    run_on_small_queue('disk full', test_full)


if __name__ == '__main__':
    main()
