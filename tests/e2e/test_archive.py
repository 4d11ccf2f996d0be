#!/usr/bin/python3
"""test_archive.py: the per-customer archive copy (relay.rules
`customer ... archive=`).  To an address: N messages in, N journal
reports out to the archive address, each with the original envelope
(queue id, sender, every recipient, client IP, customer) and the message
byte for byte as its recipients got it; the recipients get only their own
message, with no trace of the archive; the copies do not count against
the customer's limits; a message sent with SMTP AUTH over TLS has the
AUTH user and the TLS in its copy's envelope; a copy the archive refuses is reported to
postmaster, never to the sender.  To a maildir: one file per
message in
archive/<customer>/new, owned by relay-queue, and `relayctl archive
purge` honours archive_keep and follows no symbolic link.  A copy that cannot be written fails the
injection (451): a 250 means both exist."""
import os
import pwd
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, DEFAULT_RULES, Instance, Sink, check,  # noqa: E402
                     finish, is_root, smtp_session, strip_trace, wait_until)
from certs import TestCerts  # noqa: E402

ARCHIVE = 'journal@archive.test'
N = 12


def rules(archive):
    return DEFAULT_RULES.replace(
        'customer example licenses=1000 paid=yes',
        'customer example licenses=1000 paid=yes ' + archive)


def message(i):
    return (b'From: s@example.com\r\nTo: r%d@example.org\r\n'
            b'Subject: archive %d\r\nMessage-ID: <arch-%d@example.com>\r\n'
            b'\r\nbody %d\r\n' % (i, i, i, i))


def rcpts_of(i):
    """1 to 3 recipients, one of them a blind one (not in To:)."""
    return ['r%d@example.org' % i] + ['b%d.%d@example.net' % (i, k)
                                      for k in range(i % 3)]


def send_all(port, n):
    s = smtplib.SMTP('127.0.0.1', port, timeout=30)
    for i in range(n):
        s.sendmail('s@example.com', rcpts_of(i), message(i))
    s.quit()


def journal_parts(data):
    """(envelope text, the wrapped message bytes) of a journal report."""
    b = re.search(rb'boundary="([^"]+)"', data).group(1)
    parts = data.split(b'\r\n--' + b + b'\r\n')
    env = parts[1].split(b'\r\n\r\n', 1)[1].decode()
    body = parts[2].split(b'\r\n\r\n', 1)[1]
    end = b'\r\n--' + b + b'--\r\n'
    return env, body[:-len(end)] if body.endswith(end) else None


def serial(data):
    m = re.search(rb'Message-ID: <arch-(\d+)@', data)
    return int(m.group(1)) if m else None


def test_address():
    with Sink() as sink, Instance(sink=sink,
                                  rules_text=rules('archive=' + ARCHIVE)) \
            as inst:
        send_all(inst.port, N)
        want = N + sum(len(rcpts_of(i)) for i in range(N))
        wait_until(lambda: sum(len(m.rcpts) for m in sink.messages) >= want,
                   60)
        inst.wait_queue_empty(30)
        msgs = list(sink.messages)
        copies = [m for m in msgs if ARCHIVE in m.rcpts]
        own = [m for m in msgs if ARCHIVE not in m.rcpts]
        check('address: N messages in, N copies out', len(copies) == N,
              '%d copies %r' % (len(copies), msgs[:3]))
        check('address: each copy goes to the archive alone, sender <>',
              all(m.rcpts == [ARCHIVE] and m.mail_from in ('', '<>')
                  for m in copies), repr(copies[:3]))
        originals = {serial(m.data): m.data for m in own}
        seen = set()
        for m in copies:
            env, wrapped = journal_parts(m.data)
            i = serial(wrapped or b'')
            seen.add(i)
            qid = re.search(rb'\bid ([0-9A-F]+)\b', wrapped).group(1).decode()
            lines = env.splitlines()
            ok = ('qid: ' + qid in lines and 'from: <s@example.com>' in lines
                  and all('rcpt: <%s>' % r in lines for r in rcpts_of(i))
                  and len([x for x in lines if x.startswith('rcpt:')]) ==
                  len(rcpts_of(i)) and 'ip: 127.0.0.1' in lines and
                  'customer: example' in lines and
                  any(x.startswith('time: ') for x in lines))
            check('address: copy %s holds the original envelope' % i, ok, env)
            check('address: copy %s wraps the message as relayed' % i,
                  wrapped == originals.get(i),
                  '%r\n%r' % (wrapped[:200], originals.get(i, b'')[:200]))
        check('address: every message has its copy', seen == set(range(N)),
              repr(sorted(x for x in seen if x is not None)))
        per_rcpt = {}
        for m in own:
            for r in m.rcpts:
                per_rcpt.setdefault(r, []).append(serial(m.data))
        check('address: each recipient got its own message, once',
              all(per_rcpt.get(r) == [i] for i in range(N)
                  for r in rcpts_of(i)) and
              len(per_rcpt) == sum(len(rcpts_of(i)) for i in range(N)),
              repr(per_rcpt))
        leak = [m for m in own if b'archive.test' in m.data or
                b'Journal' in m.data or b'b0.' in strip_trace(m.data)]
        check('address: no trace of the archive (nor of a blind '
              'recipient) at the recipients', not leak, repr(leak[:2]))
        st = inst.relayctl('stats', '--customer', 'example').stdout
        n = sum(len(rcpts_of(i)) for i in range(N))
        check('address: the copies do not count against the limits '
              '(%d recipients counted)' % n, 'rcpts_24h=%d/' % n in st, st)
        log = inst.log()
        check('address: the log names each copy with its original',
              len(re.findall(r': archive=[0-9A-F]+$', log, re.M)) == N and
              len(re.findall(r'archive copy of [0-9A-F]+', log)) == N,
              inst.log_tail())


def test_refused_copy():
    """The archive refuses the copy (550): the relay's postmaster gets
    the failure notice; the sender and the recipient never hear of it."""
    with Sink(codes={ARCHIVE: 550}) as sink, \
            Instance(sink=sink, rules_text=rules('archive=' + ARCHIVE)) \
            as inst:
        send_all(inst.port, 1)
        wait_until(lambda: any('postmaster@relaybox.test' in m.rcpts
                               for m in sink.messages), 60)
        inst.wait_queue_empty(30)
        msgs = list(sink.messages)
        pm = [m for m in msgs if 'postmaster@relaybox.test' in m.rcpts]
        check('refused copy: postmaster is told, from <>',
              len(pm) == 1 and pm[0].mail_from in ('', '<>') and
              ARCHIVE.encode() in pm[0].data, repr(msgs))
        check('refused copy: the sender hears nothing, the recipient '
              'gets only the message',
              not [m for m in msgs if 's@example.com' in m.rcpts] and
              [m.rcpts for m in msgs if 'postmaster@relaybox.test'
               not in m.rcpts] == [['r0@example.org']], repr(msgs))


def maildir_files(inst):
    d = inst.path('archive/example/new')
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_maildir():
    with Sink() as sink, Instance(
            sink=sink, rules_text=rules('archive=maildir archive_keep=30')) \
            as inst:
        send_all(inst.port, N)
        names = maildir_files(inst)
        check('maildir: N copies, there at the 250', len(names) == N,
              repr(names))
        if not names:
            return
        path = os.path.join(inst.path('archive/example/new'), names[0])
        with open(path, 'rb') as f:
            data = f.read()
        env, wrapped = journal_parts(data)
        check('maildir: a copy holds the envelope and the message',
              'from: <s@example.com>' in env and wrapped is not None and
              serial(wrapped) is not None, env)
        check('maildir: named <arrival>.<qid>.<host>',
              all(re.match(r'^\d{10}\.[0-9A-F]+\.relaybox\.test$', n)
                  for n in names), repr(names[:3]))
        if is_root():
            st = os.stat(path)
            check('maildir: owned by relayqueue, 0600',
                  pwd.getpwuid(st.st_uid).pw_name == 'relayqueue' and
                  st.st_mode & 0o777 == 0o600, oct(st.st_mode))
            dst = os.stat(inst.path('archive'))
            check('maildir: archive/ is relayqueue 0700',
                  pwd.getpwuid(dst.st_uid).pw_name == 'relayqueue' and
                  dst.st_mode & 0o777 == 0o700, oct(dst.st_mode))
        now = int(time.time())
        r = inst.relayctl('archive', 'purge', '--now', now + 29 * 86400)
        check('maildir: purge within archive_keep keeps all',
              r.returncode == 0 and len(maildir_files(inst)) == N and
              'removed=0 kept=%d' % N in r.stdout, r.stdout + r.stderr)
        r = inst.relayctl('archive', 'purge', '--now', now + 31 * 86400)
        check('maildir: purge past archive_keep removes them',
              r.returncode == 0 and maildir_files(inst) == [] and
              'removed=%d' % N in r.stdout, r.stdout + r.stderr)
        r = inst.relayctl('archive', 'purge', '--now', 'tomorrow')
        check('maildir: purge --now takes Unix seconds only',
              r.returncode == 100 and 'Unix seconds' in r.stderr, r.stderr)
        purge_no_links(inst)


def purge_no_links(inst):
    """cur/ replaced by a link to a folder elsewhere holding an old copy:
    the purge refuses the folder (111) and the file stays."""
    outside = inst.path('outside')
    os.mkdir(outside)
    victim = os.path.join(outside, '1000000000.X.host')
    with open(victim, 'w') as f:
        f.write('not the archive\n')
    cur = inst.path('archive/example/cur')
    os.rmdir(cur)
    os.symlink(outside, cur)
    r = inst.relayctl('archive', 'purge', '--now', int(time.time()))
    check('maildir: purge follows no link out of the folder',
          os.path.exists(victim) and r.returncode == 111 and
          'archive/example' in r.stderr, r.stdout + r.stderr)


def test_copy_fails():
    """The copy cannot be made (a file where the customer's folder
    belongs): the message is refused 451 and nothing is queued."""
    with Sink() as sink, Instance(sink=sink,
                                  rules_text=rules('archive=maildir')) \
            as inst:
        with open(inst.path('archive/example'), 'w') as f:
            f.write('in the way\n')
        s = smtplib.SMTP('127.0.0.1', inst.port, timeout=30)
        try:
            s.sendmail('s@example.com', ['r@example.org'], message(1))
            code = 250
        except smtplib.SMTPDataError as e:
            code = e.smtp_code
        s.quit()
        time.sleep(1)
        check('no copy: the message is refused 451 (got %d)' % code,
              code == 451)
        check('no copy: nothing was relayed', not sink.messages and
              inst.queue_count() == 0, repr(sink.messages))


def test_auth_envelope():
    """The AUTH user (and the TLS) policy verified are in the copy."""
    user, pw = 'mailer@acme.example', 'arch1ve pass'
    h = subprocess.run([os.path.join(BIN, 'makecdb'), '--hash'],
                       input=pw + '\n', text=True, stdout=subprocess.PIPE,
                       timeout=60).stdout.strip()
    text = ('customer acme paid=yes archive=maildir\n'
            'domain acme.example customer=acme\n'
            'user %s hash=%s\n'
            'rule acme submit senders=registered auth=smtp\n' % (user, h))
    with TestCerts() as certs, Sink() as sink, \
            Instance(conf_overrides=certs.conf(), rules_text=text,
                     sink=sink) as inst:
        with smtp_session(inst.port) as c:
            c.ehlo('client.example.com')
            c.starttls(context=certs.client_context())
            c.ehlo('client.example.com')
            c.login(user, pw)
            c.sendmail(user, ['someone@example.org'], message(99))
        d = inst.path('archive/acme/new')
        names = os.listdir(d) if os.path.isdir(d) else []
        env = ''
        if len(names) == 1:
            with open(os.path.join(d, names[0]), 'rb') as f:
                env = journal_parts(f.read())[0]
        lines = env.splitlines()
        check('auth: the copy names the AUTH user, the TLS and the HELO',
              'auth: ' + user in lines and 'helo: client.example.com' in lines
              and any(x.startswith('tls: TLSv1.') for x in lines) and
              'customer: acme' in lines and
              'rcpt: <someone@example.org>' in lines, env or repr(names))


test_address()
test_refused_copy()
test_auth_envelope()
test_maildir()
test_copy_fails()
finish()
