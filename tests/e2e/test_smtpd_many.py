#!/usr/bin/python3
"""test_smtpd_many.py: relay-smtpd workers serving many sessions at once
(smtpd_sessions_per_worker).

N connections (RELAYBOX_MANY_N, default 2000; `make test-many` runs
10,000 on the release build) from many 127.x addresses: half of them
plain, half in TLS (STARTTLS); of each half, every other one idle in
the middle of a command (no line end), the rest idle after the greeting
(plain) or after EHLO (TLS).  The plain half is opened first, then the
TLS half, and the instance's PSS is taken after each (once the sessions
had time to give back what they need not keep while idle: coro.h's
CORO_IDLE_MS): the PSS per idle plain session and per idle TLS session
beyond the instance's baseline, every process of the instance counted
(relay-policy holds a connection per session too), are bounded.  With
all of them open a fresh client completes a whole transaction within
1 s, the whole instance stays under 1 GiB of PSS, and the sessions are
held by a few pool workers (the pool as configured by default: about a
thousand sessions each, not a process each); all of them dropping at
once crashes nothing and a fresh client still gets through after.
Before them, sessions that sent a message and stay open hold no
relay-queue connection each."""
import os
import resource
import socket
import ssl
import sys
import tempfile
import time
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, smtp_session  # noqa: E402
from harness import BIN, wait_until  # noqa: E402
from test_smtpd_protocol import make_tls, password_hash, rules  # noqa: E402
from test_smtpd_pool import workers  # noqa: E402

N = int(os.environ.get('RELAYBOX_MANY_N', '2000'))
PLAIN_N = N // 2
TLS_N = N - PLAIN_N
# sessions a worker holds at most by default (smtpd_sessions_per_worker)
PER_WORKER = 1000


def asan_build():
    """Whether the programs under test are the ASan build (BIN may be a
    copy of it: tests/with-bin)."""
    with open(os.path.join(BIN, 'relay-smtpd'), 'rb') as f:
        return b'libasan.so' in f.read()


ASAN = asan_build()
# KiB of PSS per idle session beyond the baseline (the bounds for
# the release build; an ASan build's shadow, redzones, quarantine and 4x
# stacks cost several times more: bounded for what it is)
PLAIN_MAX = 128 if ASAN else 32
TLS_MAX = 1024 if ASAN else 64
INSTANCE_MAX = 1024 * 1024  # KiB: 1 GiB for the whole instance
# sessions from 127.0.0.1 (conn_per_ip) that send a message, then idle
IDLE_SENT = 40
# sessions give back their idle pages 1 to 2 s after they last ran
SETTLE = 3.0


def transaction(inst):
    """A whole transaction from 127.0.0.1: seconds it took, or None."""
    t0 = time.monotonic()
    try:
        s = smtp_session(inst.port, timeout=30)
        s.ehlo('fresh.example.com')
        s.sendmail('a@example.com', ['x@example.org'],
                   b'Subject: fresh\r\n\r\nbody\r\n')
        s.quit()
    except Exception as e:  # noqa: BLE001 - reported, not raised
        print('transaction failed: %r' % e)
        return None
    return time.monotonic() - t0


def source(i):
    return '127.1.%d.%d' % (i // 200, i % 200 + 1)  # 20 per address


def read_reply(s):
    """Bytes up to the end of a whole reply (its last line "ddd ")."""
    buf = b''
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return buf
        buf += chunk
        lines = buf.split(b'\r\n')
        if len(lines) > 1 and len(lines[-2]) >= 4 and lines[-2][3:4] == b' ':
            return buf


def connect(inst, first, n):
    """n sessions from sources first.., each past its greeting."""
    socks = []
    for i in range(first, first + n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(60)
        s.bind((source(i), 0))
        s.connect(('127.0.0.1', inst.port))
        socks.append(s)
    greeted = sum(s.recv(512).startswith(b'220') for s in socks)
    check('%d sessions greeted' % n, greeted == n, '%d of %d' % (greeted, n))
    return socks


def open_plain(inst):
    """PLAIN_N plain sessions; every other one then waits in the middle
    of MAIL (after EHLO), the rest after the greeting."""
    socks = connect(inst, 0, PLAIN_N)
    mid = socks[::2]
    for s in mid:
        s.sendall(b'EHLO many.example.com\r\n')
    ok = sum(read_reply(s).startswith(b'250') for s in mid)
    for s in mid:
        s.sendall(b'MAIL FROM:<idle@exa')
    check('plain: EHLO answered', ok == len(mid), '%d' % ok)
    return socks


def open_tls(inst, ctx):
    """TLS_N sessions in TLS (STARTTLS, EHLO again); every other one then
    waits in the middle of MAIL, the rest after EHLO."""
    socks = connect(inst, PLAIN_N, TLS_N)
    t0 = time.monotonic()
    for s in socks:
        s.sendall(b'EHLO many.example.com\r\n')
    ok = sum(read_reply(s).startswith(b'250') for s in socks)
    for s in socks:
        s.sendall(b'STARTTLS\r\n')
    ok += sum(read_reply(s).startswith(b'220') for s in socks)
    for i, s in enumerate(socks):
        socks[i] = ctx.wrap_socket(s, server_hostname='relaybox.test')
        socks[i].sendall(b'EHLO many.example.com\r\n')
        ok += read_reply(socks[i]).startswith(b'250')
    for s in socks[::2]:
        s.sendall(b'MAIL FROM:<idle@exa')
    print('%d TLS sessions set up in %.1f s' % (TLS_N, time.monotonic() - t0))
    check('TLS: EHLO, STARTTLS, EHLO answered', ok == 3 * TLS_N, '%d' % ok)
    return socks


def per_session(label, before, after, n, limit):
    per = (after - before) / n
    print('PSS: %d -> %d KiB with %d %s sessions more: %.1f KiB each '
          '(%s build)' % (before, after, n, label, per,
                          'ASan' if ASAN else 'release'))
    check('PSS per idle %s session under %d KiB' % (label, limit),
          per < limit, '%.1f KiB' % per)


def queue_sockets(inst):
    """Sockets relay-queue holds (its listener, its clients...)."""
    n = 0
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
            if inst.dir.encode() not in b' '.join(argv) or \
                    not argv[0].endswith(b'relay-queue'):
                continue
            n += sum(os.readlink('/proc/%s/fd/%s' % (pid, fd))
                     .startswith('socket:')
                     for fd in os.listdir('/proc/%s/fd' % pid))
        except OSError:
            pass
    return n


def idle_after_message(inst):
    """IDLE_SENT sessions each send a message, then stay open and idle:
    they hold no relay-queue connection (relay-queue takes at most
    1,000); each sends another one after."""
    before = queue_sockets(inst)
    socks = []
    for _ in range(IDLE_SENT):
        s = smtp_session(inst.port, timeout=30)
        s.ehlo('sent.example.com')
        s.sendmail('a@example.com', ['x@example.org'],
                   b'Subject: then idle\r\n\r\nbody\r\n')
        socks.append(s)
    held = queue_sockets(inst) - before
    check('%d sessions idle after a message hold no queue connection each'
          % IDLE_SENT, held < 8, '%d more sockets in relay-queue' % held)
    ok = 0
    for s in socks:
        try:
            s.sendmail('a@example.com', ['x@example.org'],
                       b'Subject: again\r\n\r\nbody\r\n')
            s.quit()
            ok += 1
        except Exception as e:  # noqa: BLE001 - counted
            print('second message: %r' % e)
    check('each sends another message after', ok == IDLE_SENT, '%d' % ok)


def crashed(log):
    return ('ERROR: AddressSanitizer' in log or 'runtime error' in log or
            'killed by signal 11' in log or 'killed by signal 6' in log)


def run(inst, ctx, sink):
    check('a transaction before', transaction(inst) is not None)
    idle_after_message(inst)
    # their delivery over (relay-remote's memory is not the sessions')
    wait_until(lambda: len(sink.messages) >= 1 + 2 * IDLE_SENT, 60)
    time.sleep(SETTLE)
    base = inst.pss_kib()
    socks = open_plain(inst)
    time.sleep(SETTLE)
    plain = inst.pss_kib()
    per_session('plain', base, plain, PLAIN_N, PLAIN_MAX)
    socks += open_tls(inst, ctx)
    took = transaction(inst)
    check('with %d open a fresh client is done within 1 s' % N,
          took is not None and took < 1.0, repr(took))
    time.sleep(SETTLE)
    full = inst.pss_kib()
    per_session('TLS', plain, full, TLS_N, TLS_MAX)
    check('the instance under 1 GiB of PSS with %d open' % N,
          full < INSTANCE_MAX, '%d KiB' % full)
    pids = workers(inst)
    check('held by a few pool workers, not a process each',
          0 < len(pids) <= N // PER_WORKER + 4, repr(pids))
    for s in socks:
        s.close()
    wait_until(lambda: inst.log().count('disconnect') >= N, 60)
    # (workers that reached smtpd_max_use meanwhile were replaced:
    # that is not a crash)
    log = inst.log()
    check('all dropping at once crashes nothing',
          not crashed(log) and workers(inst), log[-2000:])
    check('a transaction after', transaction(inst) is not None)
    check('the messages were queued',
          wait_until(lambda: len(sink.messages) >= 3 + 2 * IDLE_SENT, 60))


def main():
    # the client end of every session, in this process
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix='relaybox-many-')
    os.chmod(tmp, 0o755)
    try:
        cert, key = make_tls(tmp)
        # the pool as it is by default (smtpd_sessions_per_worker,
        # smtpd_workers_min, conn_per_ip); room for the fresh clients
        conf = {'conn_max': N + 100, 'tls_cert': cert, 'tls_key': key}
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with Sink() as sink, Instance(conf_overrides=conf, sink=sink,
                                      rules_text=rules(password_hash())) as inst:
            run(inst, ctx, sink)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
