#!/usr/bin/python3
"""test_smtpd_pool.py: relay-listen's pool of long-lived relay-smtpd workers.

With one idle worker kept (smtpd_workers_min=1), sessions one after another
go to the same worker (the connect line names pid=): the second session sees
nothing of the first (HELO, AUTH identity, TLS, an open transaction, a
half-sent command); a worker is replaced after smtpd_max_use sessions; the
per-IP cap stays exact (slots come back when a session ends, however it
ends); a worker killed with kill -9 mid-session loses its slot and is
replaced; relay-listen killed mid-session comes back on its port while the
session goes on; a changed relay.conf replaces the workers; smtpd_workers_min=0
still runs one relay-smtpd per connection; a worker serving many sessions
at its cap is not idle, so another one greets the next client; with many
sessions per worker, the policy and queue connections of a session that
ended serve the worker's next one, and a session's log lines are written
while it goes on."""
import base64
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, finish, wait_until  # noqa: E402
from sink import free_port  # noqa: E402
from harness import check as _check  # noqa: E402
from test_smtpd_protocol import (PASSWORD, USER, ehlo, make_tls,  # noqa: E402
                                 password_hash, rules, session_free,
                                 starttls)


def check(name, cond, detail=''):
    """harness.check with any detail shown by repr."""
    return _check(name, cond, detail if isinstance(detail, str) else repr(detail))


def socket_inode(server_port, client_port):
    """The inode of the server's end of a loopback TCP connection."""
    want = (':%04X' % server_port, ':%04X' % client_port)
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[1].endswith(want[0]) and cols[2].endswith(want[1]):
                    return cols[9]
    return None


def socket_owner(inst, raw):
    """The relay-smtpd process of this instance holding the server's end
    of raw's connection, or None."""
    inode = socket_inode(raw.s.getpeername()[1], raw.s.getsockname()[1])
    if not inode:
        return None
    link = 'socket:[%s]' % inode
    for pid in inst.pids(['relay-smtpd']):
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
            if any(os.readlink('/proc/%d/fd/%s' % (pid, fd)) == link
                   for fd in fds):
                return pid
        except OSError:
            continue
    return None


def session_pid(inst, raw, timeout=10):
    """The worker pid of the session of client raw: while the connection
    is open, the process that holds its server end (exact); else the
    newest connect line naming the client's address and port (lines are
    a few ms late, and a port number may have served an earlier
    connection too)."""
    try:
        pid = socket_owner(inst, raw)
    except OSError:
        pid = None
    if pid:
        return pid
    ip, port = raw.s.getsockname()[:2]
    pat = (r'relay-(?:listen|smtpd).*connect %s:%d to .* pid=(\d+)'
           % (re.escape(ip), port))
    m = wait_until(lambda: re.findall(pat, inst.log()), timeout)
    return int(m[-1]) if m else None


def workers(inst):
    """pids of the running relay-smtpd -w processes of this instance."""
    out = subprocess.run(['pgrep', '-f', 'relay-smtpd -d %s -w' % inst.dir],
                         stdout=subprocess.PIPE, text=True).stdout
    return {int(p) for p in out.split()}


def greet(inst):
    r = Raw(inst.port)
    code, _ = r.reply()
    return r, code


def test_no_leak(inst, sink):
    """Session A: STARTTLS, AUTH, MAIL+RCPT, half a command, then gone.
    Session B on the same worker: none of it."""
    r, _ = greet(inst)
    ehlo(r)
    r.cmd(b'STARTTLS\r\n')
    starttls(r)
    ehlo(r)
    plain = base64.b64encode(b'\0' + USER.encode() + b'\0' + PASSWORD.encode())
    check('A: AUTH 235', r.cmd(b'AUTH PLAIN ' + plain + b'\r\n')[0] == 235)
    check('A: MAIL 250', r.cmd(b'MAIL FROM:<a@example.com>\r\n')[0] == 250)
    check('A: RCPT 250', r.cmd(b'RCPT TO:<x@example.org>\r\n')[0] == 250)
    r.send(b'RCPT TO:<half')  # no line end: the buffer must not carry over
    pid_a = session_pid(inst, r)
    r.close()
    wait_until(lambda: re.search(r'disconnect', inst.log()), 10)
    time.sleep(1)  # the worker waits for the next connection again
    r, code = greet(inst)
    pid_b = session_pid(inst, r)
    check('B is served by the same worker as A', pid_a and pid_a == pid_b,
          (pid_a, pid_b))
    check('B: 220', code == 220)
    check('B: no HELO carried over (MAIL before EHLO 503)',
          r.cmd(b'MAIL FROM:<a@example.com>\r\n')[0] == 503)
    ext = r.cmd(b'EHLO client.example.com\r\n')[1]
    check('B: not in TLS (STARTTLS offered, no AUTH in the clear)',
          'STARTTLS' in ext and not any(l.startswith('AUTH') for l in ext), ext)
    check('B: no transaction carried over (RCPT before MAIL 503)',
          r.cmd(b'RCPT TO:<x@example.org>\r\n')[0] == 503)
    check('B: DATA without a transaction 503', r.cmd(b'DATA\r\n')[0] == 503)
    r.cmd(b'STARTTLS\r\n')
    starttls(r)
    ehlo(r)
    check('B: no AUTH identity carried over (AUTH again not 503)',
          r.cmd(b'AUTH PLAIN ' + plain[:-4] + b'AAAA\r\n')[0] in (535, 501))
    r.cmd(b'MAIL FROM:<b@example.com>\r\n')
    r.cmd(b'RCPT TO:<y@example.org>\r\n')
    r.cmd(b'DATA\r\n')
    code, _ = r.cmd(b'Subject: b\r\n\r\nb\r\n.\r\n')
    check('B: message 250', code == 250)
    r.cmd(b'QUIT\r\n')
    r.close()
    check('B: the message arrives', sink.wait_for(1, 30))
    got = [m for m in sink.messages if b'Subject: b' in m.data]
    head = got[0].data.split(b'\r\n\r\n')[0] if got else b''
    check('B: Received says ESMTPS, not ESMTPSA (no AUTH of A)',
          b'ESMTPS' in head and b'ESMTPSA' not in head, head[:400])
    check('B: only its own recipient (none of A)',
          got and got[0].rcpts == ['y@example.org'],
          got[0].rcpts if got else None)


def test_max_use(inst):
    """smtpd_max_use=3: the fourth session goes to another worker, and the
    retired one exits."""
    pids = []
    for _ in range(4):
        r, _ = greet(inst)
        pids.append(session_pid(inst, r))
        r.cmd(b'QUIT\r\n')
        r.close()
        time.sleep(0.2)
    uses = {p: pids.count(p) for p in pids}
    check('max_use 3: no worker served more than 3 sessions',
          pids and max(uses.values()) <= 3, pids)
    full = [p for p, k in uses.items() if k == 3]
    check('max_use 3: a worker that served 3 exits',
          full and wait_until(lambda: full[0] not in workers(inst), 10),
          (pids, workers(inst)))


def test_caps(inst):
    """conn_per_ip=2: two open sessions, the third 421; after one ends
    (QUIT, or just closing) a new one is served, again and again."""
    a, _ = greet(inst)
    b, _ = greet(inst)
    c, code = greet(inst)
    check('per-IP cap: third 421', code == 421, code)
    c.close()
    a.cmd(b'QUIT\r\n')
    a.close()
    ok = True
    for i in range(6):
        ok = ok and wait_until(lambda: greet_quit(inst), 5)
    check('per-IP cap: slots come back after each session (6 in a row)', ok)
    b.close()
    check('after all closed: two at once again',
          wait_until(lambda: two_at_once(inst), 5))


def greet_quit(inst):
    r, code = greet(inst)
    if code == 220:
        r.cmd(b'QUIT\r\n')
    r.close()
    return code == 220


def two_at_once(inst):
    a, ca = greet(inst)
    b, cb = greet(inst)
    a.close()
    b.close()
    return ca == 220 and cb == 220


def test_kill9(inst):
    """A worker killed with kill -9 mid-session: the client sees the end,
    the slot is released (conn_per_ip=2 lets two new sessions in), the
    pool starts another worker."""
    # the sessions closed a step before hold their cap slots until their
    # workers said "done": wait for room (a 421 here is that race)
    a, code = session_free(inst.port, 5)
    check('kill -9: a session opens', code == 220, code)
    ehlo(a)
    a.cmd(b'MAIL FROM:<a@example.com>\r\n')
    pid = session_pid(inst, a)
    check('kill -9: the worker is a pool worker', pid in workers(inst),
          (pid, workers(inst)))
    os.kill(pid, signal.SIGKILL)
    try:
        gone = a.s.recv(100) == b''
    except OSError:
        gone = True
    a.close()
    check('kill -9: the client sees the connection end', gone)
    check('kill -9: the worker is gone',
          wait_until(lambda: pid not in workers(inst), 5))
    check('kill -9: its slot is released (two new sessions at once)',
          wait_until(lambda: two_at_once(inst), 5), inst.log_tail(10))
    check('kill -9: an idle worker is ready again',
          wait_until(lambda: len(workers(inst)) >= 1, 5))


def listen_pid(inst):
    out = subprocess.run(['pgrep', '-f', 'relay-listen -d %s' % inst.dir],
                         stdout=subprocess.PIPE, text=True).stdout.split()
    return int(out[0]) if len(out) == 1 else None


def test_listen_restart(inst):
    """relay-listen killed with kill -9 during a session: the workers,
    which accept on its sockets, drop them at once, so the restarted
    relay-listen binds the port again; the running session goes on to
    its end, and new sessions are served."""
    a, code = session_free(inst.port, 5)
    check('listen restart: a session opens', code == 220, code)
    ehlo(a)
    old = listen_pid(inst)
    check('listen restart: relay-listen runs', old is not None)
    readies = inst.log().count('ready: every daemon is up and listening')
    os.kill(old, signal.SIGKILL)
    new = wait_until(lambda: (listen_pid(inst) or old) != old and
                     listen_pid(inst), 15)
    check('listen restart: relay-listen is back', new, inst.log_tail(10))
    check('listen restart: it bound the port again (no bind error)',
          not re.search(r'relay-listen\[%d\]: fatal' % (new or 0), inst.log()),
          inst.log_tail(10))
    check('listen restart: the running session goes on',
          a.cmd(b'MAIL FROM:<a@example.com>\r\n')[0] == 250)
    a.cmd(b'QUIT\r\n')
    a.close()
    # relay-master says ready again once the new relay-listen listens
    check('listen restart: ready again', wait_until(
        lambda: inst.log().count('ready: every daemon is up and listening')
        > readies, 15), inst.log_tail(10))
    b, code = session_free(inst.port, 10)
    check('listen restart: a new session is served', code == 220, code)
    b.close()
    check('listen restart: no worker tried its closed listeners',
          not re.search(r'accept on .*: Bad file', inst.log()),
          inst.log_tail(10))


def message(inst, subject):
    """One message in a session of its own; its reply code after the dot."""
    r, code = session_free(inst.port, 5)
    if code != 220:
        return code
    ehlo(r)
    r.cmd(b'MAIL FROM:<a@example.com>\r\n')
    r.cmd(b'RCPT TO:<w@example.org>\r\n')
    r.cmd(b'DATA\r\n')
    code, _ = r.cmd(b'Subject: %s\r\n\r\nw\r\n.\r\n' % subject)
    r.cmd(b'QUIT\r\n')
    r.close()
    return code


def restart_between(inst, daemon, sock, tag):
    """daemon killed between two sessions and restarted by relay-master:
    then three messages, each 250.  Returns their codes."""
    check('before the %s restart: a message 250' % daemon,
          message(inst, tag + b'1') == 250)
    old = inst.status().get(daemon, (0, 0))[0]
    if not check('%s pid known' % daemon, old > 0, inst.status()):
        return None
    os.kill(old, signal.SIGKILL)
    check('%s restarted' % daemon,
          wait_until(lambda: inst.status().get(daemon, (0, 0))[0]
                     not in (0, old) and
                     os.path.exists(inst.path('run/' + sock)), 10))
    time.sleep(0.5)  # the new one listens
    return [message(inst, tag + b'%d' % i) for i in range(2, 5)]


def test_policy_restart(inst):
    """relay-policy restarted between two sessions: the worker's kept
    policy connection is dead; the next session must notice it at the
    greeting (smtpd sends phase=connect only with the first request) and
    open a new one instead of failing its MAIL with 451."""
    codes = restart_between(inst, 'relay-policy', 'policy.sock', b'r')
    check('after the restart: every message 250 (kept connections renewed)',
          codes == [250, 250, 250], codes)


def test_conf_change(inst):
    """A changed relay.conf: the workers are replaced."""
    before = workers(inst)
    with open(inst.path('relay.conf'), 'a') as f:
        f.write('# touched by test_smtpd_pool\n')
    greet_quit(inst)
    check('relay.conf changed: the old workers go',
          wait_until(lambda: not (before & workers(inst)), 10),
          (before, workers(inst)))
    check('relay.conf changed: new workers serve',
          wait_until(lambda: greet_quit(inst), 5))


def test_broken_conf(inst):
    """A relay.conf the workers cannot start with: no worker is idle, so
    relay-listen answers 421 4.3.0 itself instead of leaving clients
    waiting; repaired, workers serve again."""
    path = inst.path('relay.conf')
    with open(path) as f:
        good = f.read()
    with open(path, 'a') as f:
        f.write('no_such_setting = 1\n')
    check('broken relay.conf: workers die at start',
          inst.wait_log(r'worker pid=\d+ exited at start', 10),
          inst.log_tail(10))
    codes = []
    for _ in range(3):
        r, code = greet(inst)
        r.close()
        codes.append(code)
        if code == 421:
            break
        time.sleep(0.5)
    check('broken relay.conf: a client hears 421 from relay-listen',
          421 in codes and inst.wait_log(r'no smtpd worker can start', 5),
          (codes, inst.log_tail(5)))
    with open(path, 'w') as f:
        f.write(good)
    check('relay.conf repaired: workers serve again',
          wait_until(lambda: greet_quit(inst), 10), inst.log_tail(10))


def worker_sockets(inst):
    """The socket inodes every relay-smtpd worker of inst holds."""
    out = set()
    for pid in workers(inst):
        try:
            for fd in os.listdir('/proc/%d/fd' % pid):
                link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
                if link.startswith('socket:'):
                    out.add(link)
        except OSError:
            pass
    return out


def test_queue_restart(inst):
    """relay-queue restarted between two sessions: a kept queue connection
    is dead; the next message finds that at its first write and opens a
    new one (nothing of it had gone out) instead of failing with 451."""
    codes = restart_between(inst, 'relay-queue', 'queue.sock', b'q')
    check('after the queue restart: every message 250', codes == [250] * 3,
          codes)


def test_multi_kept(sink):
    """smtpd_sessions_per_worker > 1: a session's connections to
    relay-policy and relay-queue outlive it, in step, and the worker's
    next session takes them instead of connecting again (as a worker
    serving one session at a time keeps its own); a restart of either
    daemon between sessions costs no message."""
    conf = {'smtpd_sessions_per_worker': 100, 'smtpd_workers_min': 1}
    with Instance(conf_overrides=conf, sink=sink) as inst:
        wait_until(lambda: workers(inst), 10)
        time.sleep(0.5)  # its listening sockets taken
        base = worker_sockets(inst)
        check('multi: first message 250', message(inst, b'k1') == 250)
        kept = wait_until(lambda: (worker_sockets(inst) - base) or None, 5)
        check('multi: the ended session\'s policy and queue connections '
              'are kept', kept and len(kept) == 2, (base, kept))
        check('multi: second message 250', message(inst, b'k2') == 250)
        time.sleep(0.5)
        check('multi: the next session took them (no new connection)',
              kept and worker_sockets(inst) - base == kept,
              (kept, worker_sockets(inst) - base))
        test_policy_restart(inst)
        test_queue_restart(inst)


def smtpd_connects(inst):
    return len(re.findall(r'relay-smtpd\[\d+\]: info: [^ ]+: connect port=',
                          inst.log()))


def test_multi_log_soon(sink):
    """Among many sessions a worker writes its sessions' log lines
    within a few ms, not when a session ends or idles: a session that
    never waits 100 ms for its client (a NOOP every 20 ms, from a thread
    of its own) has its connect line in the log while it goes on (its
    own instance: no other session's end writes it)."""
    conf = {'smtpd_sessions_per_worker': 100, 'smtpd_workers_min': 1}
    with Instance(conf_overrides=conf, sink=sink) as inst:
        wait_until(lambda: workers(inst), 10)
        busy_session(inst)


def busy_session(inst):
    before = smtpd_connects(inst)
    r = Raw(inst.port)
    r.reply()
    r.cmd(b'EHLO busy.example\r\n')
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            r.cmd(b'NOOP\r\n')
            time.sleep(0.02)
    t = threading.Thread(target=busy)
    t.start()
    try:
        seen = wait_until(lambda: smtpd_connects(inst) > before, 2)
    finally:
        stop.set()
        t.join()
    check('multi: a busy session\'s lines are logged while it goes on',
          seen, inst.log_tail(5))
    r.cmd(b'QUIT\r\n')
    r.close()


def test_no_pool(sink):
    """smtpd_workers_min=0: one relay-smtpd per connection (UCSPI), as
    before the pool; no worker runs."""
    with Instance(conf_overrides={'smtpd_workers_min': 0}, sink=sink) as inst:
        r, code = greet(inst)
        ehlo(r)
        r.cmd(b'MAIL FROM:<a@example.com>\r\n')
        r.cmd(b'RCPT TO:<z@example.org>\r\n')
        r.cmd(b'DATA\r\n')
        code, _ = r.cmd(b'Subject: ucspi\r\n\r\nz\r\n.\r\n')
        check('workers_min 0: message 250', code == 250)
        check('workers_min 0: no pool worker runs', not workers(inst),
              workers(inst))
        r.cmd(b'QUIT\r\n')
        r.close()
        check('workers_min 0: the message arrives',
              wait_until(lambda: any(b'Subject: ucspi' in m.data
                                     for m in sink.messages), 30))


def test_full_worker(sink):
    """smtpd_sessions_per_worker=3, one worker kept idle: a worker at its
    cap is not idle, so a fourth, fifth... client is greeted by another
    worker at once instead of waiting in the backlog; when sessions end
    a worker takes new ones again."""
    conf = {'smtpd_workers_min': 1, 'smtpd_sessions_per_worker': 3,
            'smtpd_max_use': 100, 'conn_max': 50, 'conn_per_ip': 50}
    with Instance(conf_overrides=conf, sink=sink) as inst:
        held, codes = [], []
        for i in range(8):
            r = Raw(inst.port, source_ip='127.0.3.%d' % (i + 1), timeout=5)
            try:
                codes.append(r.reply()[0])
            except OSError as e:
                codes.append(repr(e))
            held.append(r)
        check('cap 3 a worker: 8 open sessions all greeted at once',
              codes == [220] * 8, codes)
        pids = {session_pid(inst, r) for r in held}
        check('cap 3 a worker: at least 3 workers hold them',
              len(pids) >= 3 and None not in pids, pids)
        for r in held:
            r.close()
        check('cap 3 a worker: after they end, new sessions again',
              wait_until(lambda: two_at_once(inst), 10), inst.log_tail(10))


def test_nofile_warning(sink):
    """conn_max above the hard descriptor limit: relay-listen says so at
    start (each session holds a descriptor in relay-policy)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 100000:
        print('PASS conn_max over the fd limit: skipped (hard limit %s)' % hard)
        return
    with Instance(conf_overrides={'conn_max': hard + 1}, sink=sink) as inst:
        check('conn_max over the fd limit: relay-listen warns',
              inst.wait_log(r'relay-listen.*warning: conn_max %d is above '
                            r'the descriptor limit' % (hard + 1), 10),
              inst.log_tail(10))
    with Instance(sink=sink) as inst:
        greet_quit(inst)
        check('the default conn_max fits this box\'s limit: no warning',
              'descriptor limit' not in inst.log(), inst.log_tail(10))


def test_listener_groups(sink):
    """Listeners on different addresses have workers of their own: a
    session on 127.0.0.2 never shares a process with one on 127.0.0.1,
    while two sessions on the same address share their worker."""
    p1, p2 = free_port('127.0.0.1'), free_port('127.0.0.2')
    conf = {'listen': '127.0.0.1:%d 127.0.0.2:%d' % (p1, p2),
            'smtpd_workers_min': 1, 'smtpd_sessions_per_worker': 100}
    with Instance(conf_overrides=conf, sink=sink) as inst:
        a = Raw(p1)
        b = Raw(p2, host='127.0.0.2')
        a2 = Raw(p1)
        codes = [x.reply()[0] for x in (a, b, a2)]
        check('groups: sessions on both addresses greeted',
              codes == [220] * 3, codes)
        pa, pb, pa2 = (session_pid(inst, x) for x in (a, b, a2))
        check('groups: the other address, another worker',
              None not in (pa, pb) and pa != pb, (pa, pb))
        check('groups: the same address, the same worker', pa == pa2,
              (pa, pa2))
        for x in (a, b, a2):
            x.close()


def main():
    tmp = tempfile.mkdtemp(prefix='relaybox-smtpd-pool-')
    os.chmod(tmp, 0o755)
    try:
        cert, key = make_tls(tmp)
        pwhash = password_hash()
        conf = {'tls_cert': cert, 'tls_key': key, 'smtpd_workers_min': 1,
                'smtpd_max_use': 3, 'conn_per_ip': 2}
        with Sink() as sink, Instance(conf_overrides=conf, sink=sink,
                                      rules_text=rules(pwhash)) as inst:
            test_no_leak(inst, sink)
            test_max_use(inst)
            test_caps(inst)
            test_kill9(inst)
            test_listen_restart(inst)
            test_policy_restart(inst)
            test_conf_change(inst)
            test_broken_conf(inst)
            test_no_pool(sink)
            test_full_worker(sink)
            test_multi_kept(sink)
            test_multi_log_soon(sink)
            test_nofile_warning(sink)
            test_listener_groups(sink)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
