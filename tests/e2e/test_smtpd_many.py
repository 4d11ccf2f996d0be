#!/usr/bin/python3
"""test_smtpd_many.py: relay-smtpd workers serving many sessions at once
(smtpd_sessions_per_worker).

N connections (RELAYBOX_MANY_N, default 2000) from many 127.x addresses:
half of them idle in the middle of a command (no line end), some of those
in TLS, the rest idle after the greeting.  With all of them open a fresh
client completes a whole transaction within 1 s; they are held by the
few pool workers (not a process each); the instance's PSS per open
session is reported and bounded; all of them dropping at once crashes
nothing and a fresh client still gets through after."""
import os
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
TLS_N = min(100, N // 10)
PER_WORKER = (N + 1) // 2 + 50


def pss_kib(inst):
    """The PSS of every process of the instance (its dir on the command
    line: relay-master and the daemons it runs), in KiB."""
    total = 0
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if inst.dir.encode() not in f.read():
                    continue
            with open('/proc/%s/smaps_rollup' % pid) as f:
                for line in f:
                    if line.startswith('Pss:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


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


def open_many(inst, ctx):
    """Open N sessions, each past its greeting; the sockets (TLS ones
    wrapped).  Every other one then waits in the middle of MAIL (after
    EHLO; the first TLS_N of them after STARTTLS and EHLO again)."""
    socks = []
    for i in range(N):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(30)
        s.bind((source(i), 0))
        s.connect(('127.0.0.1', inst.port))
        socks.append(s)
    greeted = sum(s.recv(512).startswith(b'220') for s in socks)
    check('all %d sessions greeted' % N, greeted == N, '%d of %d' % (greeted, N))
    mid = range(0, N, 2)
    for i in mid:
        socks[i].sendall(b'EHLO many.example.com\r\n')
    ok = sum(read_reply(socks[i]).startswith(b'250') for i in mid)
    for i in list(mid)[:TLS_N]:
        socks[i].sendall(b'STARTTLS\r\n')
        ok += read_reply(socks[i]).startswith(b'220')
        socks[i] = ctx.wrap_socket(socks[i], server_hostname='relaybox.test')
        socks[i].sendall(b'EHLO many.example.com\r\n')
        ok += read_reply(socks[i]).startswith(b'250')
    for i in mid:
        socks[i].sendall(b'MAIL FROM:<idle@exa')
    check('EHLO and STARTTLS answered', ok == len(mid) + 2 * TLS_N)
    return socks


def main():
    tmp = tempfile.mkdtemp(prefix='relaybox-many-')
    os.chmod(tmp, 0o755)
    try:
        cert, key = make_tls(tmp)
        # smtpd_max_use above N: the two workers hold every session (a
        # worker used up drains and is replaced: test_smtp_listen_slots)
        conf = {'smtpd_sessions_per_worker': PER_WORKER,
                'smtpd_max_use': 2 * N + 10,
                'smtpd_workers_min': 2, 'conn_max': N + 100,
                'conn_per_ip': 50, 'tls_cert': cert, 'tls_key': key}
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with Sink() as sink, Instance(conf_overrides=conf, sink=sink,
                                      rules_text=rules(password_hash())) as inst:
            check('a transaction before', transaction(inst) is not None)
            time.sleep(1)
            base = pss_kib(inst)
            socks = open_many(inst, ctx)
            time.sleep(1)
            took = transaction(inst)
            check('with %d open a fresh client is done within 1 s' % N,
                  took is not None and took < 1.0, repr(took))
            pids = workers(inst)
            check('held by the pool workers, not a process each',
                  0 < len(pids) <= 4, repr(pids))
            grown = pss_kib(inst) - base
            per = grown / N
            asan = '/asan/' in BIN
            print('PSS: %d KiB before, +%d KiB with %d open: %.1f KiB per '
                  'session (%s build)' % (base, grown, N, per,
                                          'ASan' if asan else 'release'))
            # an ASan build's shadow and quarantine cost several times
            # a release build's; the bound is for the build tested
            limit = 400 if asan else 64
            check('PSS per open session under %d KiB' % limit, per < limit,
                  '%.1f KiB' % per)
            for s in socks:
                s.close()
            wait_until(lambda: inst.log().count('disconnect') >= N, 30)
            # (workers that reached smtpd_max_use meanwhile were replaced:
            # that is not a crash)
            log = inst.log()
            check('all dropping at once crashes nothing',
                  'ERROR: AddressSanitizer' not in log and
                  'runtime error' not in log and
                  'killed by signal 11' not in log and
                  'killed by signal 6' not in log and workers(inst),
                  log[-2000:])
            check('a transaction after', transaction(inst) is not None)
            check('the messages were queued',
                  wait_until(lambda: len(sink.messages) >= 3, 30))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
