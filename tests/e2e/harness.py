#!/usr/bin/python3
"""harness.py: start a real relaybox instance for an end-to-end test.

Run tests with /usr/bin/python3 (it has aiosmtpd, dkim, dnspython).  A test:

    import sys, os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from harness import *

    with Sink() as sink, Instance(sink=sink) as inst:
        with smtp_session(inst.port) as c:          # smtplib.SMTP from 127.0.0.1
            c.sendmail('a@example.com', ['b@example.org'], b'Subject: x\\r\\n\\r\\nhi\\r\\n')
        check('message arrives', sink.wait_for(1, 30), inst.log_tail())
    finish()                                       # exit 1 if any check failed

What Instance(conf_overrides={}, rules_text=None, sink=None, pass_fds=())
does (pass_fds: descriptors relay-master inherits, as from a careless
caller):
  - makes a temporary instance directory (mode 0755, so that the daemons'
    own uids can read it when the test runs as root);
  - writes relay.conf: listen on 127.0.0.1:<.port> and [::1]:<.port6>
    (same port when it is free on both), hostname relaybox.test, short
    retry times, remote_private_addresses = allow (the tests' MX hosts
    are on loopback), relayhost [127.0.0.1]:<sink.port> when sink is given;
    conf_overrides (a dict) adds or replaces keys;
  - writes relay.rules (DEFAULT_RULES: customer "example" owning
    example.com, IP-trusted 127.0.0.1/32 and ::1, senders=domain; or
    rules_text) and compiles it with bin/makecdb -d DIR;
  - starts bin/relay-master -d DIR in its own session, waits for run/ready
    (written by relay-master once every daemon runs and the listeners
    listen; when another test took the port first it starts again on new
    ports), and on exit stops it (SIGTERM, then SIGKILL of its process
    group), printing the log's tail when the block failed.
  Instance(...).prepare() only writes the directory (no relay-master).
  Attributes/methods: .dir .port .port6 .path(rel) .log() .log_tail(n)
  .wait_log(regex, timeout) .queue_count() .wait_queue_empty(timeout)
  .relayctl(*args) .status() (run/status as {name: (pid, uid)}) .stop().

Helpers: free_port(), wait_until(cond, timeout),
smtp_session(port, source_ip='127.0.0.1'),
Raw(port, source_ip) (a byte-level client: .send(b), .reply(), .close()),
swaks(*args), tcp_pair(client_ip) (a loopback TCP connection whose
accepted end relay-policy believes as a client's socket), run_on_tcp(argv,
env, data) (relay-smtpd on such a socket, fed data), as_user(user,
fn, groups) (fn run in a child as that
uid: what a taken-over daemon or a local user could do), strip_trace(data) (drops the Received/DKIM-Signature headers
the relay prepends), check(name, cond, detail), skip(name, why), finish().
KEEP=1 in the environment keeps the instance directory for inspection.
RELAYBOX_E2E_CONF="key=value,key=value" adds relay.conf settings to every
instance (a test's own settings win): e.g. smtpd_sessions_per_worker=64
runs a group against workers that serve many sessions at once.
Importing the harness makes SIGTERM raise SystemExit, so a test killed by
tests/run's timeout still stops its relay and sink.
"""
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sink import Sink, SinkMessage, free_port  # noqa: E402,F401

ROOT = os.path.dirname(os.path.dirname(HERE))
# the programs under test: tests/run names them in RELAYBOX_BIN (the test
# build, or a copy of it the relay users can execute); else the test build
BIN = os.environ.get('RELAYBOX_BIN') or os.path.join(ROOT, 'build', 'asan', 'bin')

# licenses=1000: peak 9,000 and daily 130,000 recipients, far above what
# a test sends (2,000 for smtp-source)
DEFAULT_RULES = """\
# harness default: one customer trusted by IP on loopback
customer example licenses=1000 paid=yes
domain example.com customer=example
rule example loopback senders=domain auth=ip
ip example loopback 127.0.0.1/32
ip example loopback ::1
"""

_failed = 0
_passed = 0


def _terminated(signum, frame):
    # tests/run's timeout sends SIGTERM: unwind so that every Instance and
    # Sink context manager stops what it started
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _terminated)


def check(name, cond, detail=''):
    """Print PASS/FAIL name; a failure counts towards finish()'s status."""
    global _failed, _passed
    if cond:
        _passed += 1
        print('PASS %s' % name, flush=True)
    else:
        _failed += 1
        print('FAIL %s%s' % (name, (': %s' % (detail,)) if detail else ''),
              flush=True)
    return bool(cond)


def skip(name, why):
    """A note, neither PASS nor FAIL (e.g. the uid test when not root)."""
    print('SKIP %s: %s' % (name, why), flush=True)


def failures():
    return _failed


def finish():
    print('# %d passed, %d failed' % (_passed, _failed), flush=True)
    sys.exit(1 if _failed else 0)


def ns_frame(payload):
    """One netstring, as relaybox's daemons frame every message."""
    return b'%d:%s,' % (len(payload), payload)


def ns_read(s):
    """The payload of the next netstring on socket s; None at EOF or when
    the frame is cut short."""
    buf = b''
    while b':' not in buf:
        c = s.recv(1)
        if not c:
            return None
        buf += c
    n = int(buf[:-1])
    data = b''
    while len(data) < n + 1:
        c = s.recv(n + 1 - len(data))
        if not c:
            return None
        data += c
    assert data[-1:] == b','
    return data[:-1]


def ns_read_kv(s):
    """The next frame on s as a dict of its key=value lines; None at
    EOF."""
    data = ns_read(s)
    if data is None:
        return None
    return dict(line.partition('=')[::2]
                for line in data.decode().splitlines())


def queue_inject(s, msg, env):
    """One injection on a relay-queue daemon connection s (the
    ARCHITECTURE.md protocol): the frame op=inject with both pipes
    attached, then the envelope and the message (None: closed without
    data), in the order relay-queue reads them; the answer as a dict.
    The daemon may refuse before reading everything (a bad envelope, a
    full disk) and close the pipes: EPIPE is fine, as for relay-send;
    the answer is what counts."""
    mr, mw = os.pipe()
    er, ew = os.pipe()
    socket.send_fds(s, [ns_frame(b'op=inject\n')], [mr, er])
    os.close(mr)
    os.close(er)
    for fd, data in ((ew, env), (mw, msg)):
        view = memoryview(data or b'')
        try:
            while view:
                view = view[os.write(fd, view):]
        except BrokenPipeError:
            pass
        os.close(fd)
    return ns_read_kv(s)


def inline_frames(msg, env, chunk=16384):
    """An inline injection (ARCHITECTURE.md) as bytes: op=inline, the
    message in frames of chunk bytes, an empty frame, the envelope in
    frames, an empty frame."""
    out = [ns_frame(b'op=inline\n')]
    for data in (msg, env):
        out += [ns_frame(data[i:i + chunk])
                for i in range(0, len(data), chunk)]
        out.append(ns_frame(b''))
    return b''.join(out)


def wait_until(cond, timeout, step=0.1):
    """Poll cond() until it is true or timeout s passed; its last value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def no_sanitizer_report(inst, name='no sanitizer report in the log'):
    """A check that the instance's daemons (the test build has ASan and
    UBSan) logged no sanitizer report."""
    said = [line for line in inst.log().splitlines() if re.search(
        r'AddressSanitizer|LeakSanitizer|runtime error:', line)]
    check(name, not said, said[:5])


def alive(pid):
    """True while a process with that pid exists (ours or another uid's)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def is_root():
    return os.geteuid() == 0


def tcp_pair(client_ip='127.0.0.1', privileged=True):
    """A TCP connection on loopback: (accepted, client).  The accepted end
    listens on a free port below 1024 when privileged (root only), which
    relay-policy believes as a client's socket as it would tcpserver's on
    port 25; else on any free port.  The listener is closed at once."""
    import random
    rng = random.Random()
    for _ in range(200):
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            lst.bind(('127.0.0.1', rng.randrange(600, 1000) if privileged
                      else 0))
            break
        except OSError:
            lst.close()
    else:
        raise RuntimeError('no free port below 1024')
    with lst:
        lst.listen(1)
        cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cli.bind((client_ip, 0))
        cli.connect(lst.getsockname())
        srv, _ = lst.accept()
    return srv, cli


def skipped_unless_root(name):
    """True (after a SKIP note) when not root: the privilege tests need
    the relay's uids, which only root can run it under."""
    if is_root():
        return False
    skip(name, 'not running as root: every part runs as the invoking '
         'user, there is no other uid to defend against (CI runs this as root)')
    return True


def run_on_tcp(argv, env, data, timeout=60):
    """Run argv (relay-smtpd under UCSPI) with the accepted end of a
    tcp_pair() on its fd 0 and 1, as a super-server would, feed it data to
    its end and read what it says: (out, err, returncode), or None on
    timeout.  As root: relay-policy believes a client's address only from
    such a socket, not from TCPREMOTEIP."""
    srv, cli = tcp_pair()
    p = subprocess.Popen(argv, stdin=srv, stdout=srv, stderr=subprocess.PIPE,
                         env=env)
    srv.close()

    def feed():
        try:
            cli.sendall(data)
            cli.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # it hung up first
    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out, deadline = b'', time.time() + timeout
    cli.settimeout(timeout)
    try:
        while time.time() < deadline:
            try:
                b = cli.recv(65536)
            except ConnectionResetError:
                b = b''  # it hung up with our input unread
            if not b:
                break
            out += b
        rc = p.wait(max(1, deadline - time.time()))
    except (OSError, subprocess.TimeoutExpired):
        p.kill()
        rc = None
    err = p.stderr.read()
    p.stderr.close()
    cli.close()
    writer.join(5)
    return None if rc is None else (out, err, rc)


def as_user(user, fn, groups=()):
    """Run fn() in a child process that is user (its primary group plus
    the named groups), as a taken-over daemon or a local user would be;
    returns what fn returned (a small picklable value), or the
    exception's text as 'error: ...'.  Needs root."""
    import grp
    import pickle
    import pwd
    pw = pwd.getpwnam(user)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([pw.pw_gid] + [grp.getgrnam(g).gr_gid for g in groups])
            os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
            os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
            out = fn()
        except BaseException as e:  # noqa: B902 (reported to the parent)
            out = 'error: %s' % e
        os.write(w, pickle.dumps(out))
        os._exit(0)
    os.close(w)
    data = b''
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        data += b
    os.close(r)
    os.waitpid(pid, 0)
    return pickle.loads(data) if data else 'error: no answer'


def _port_free_on_both():
    """A port free on 127.0.0.1 and on ::1 (None when ::1 is unusable)."""
    for _ in range(20):
        p = free_port('127.0.0.1')
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(('::1', p))
            return p
        except OSError:
            continue
    return None


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def smtp_session(port, source_ip='127.0.0.1', host=None, timeout=60):
    """smtplib.SMTP to the relay, the client bound to source_ip."""
    if host is None:
        host = '::1' if ':' in source_ip else '127.0.0.1'
    return smtplib.SMTP(host, port, source_address=(source_ip, 0),
                        timeout=timeout)


class ThreadServer:
    """A scripted TCP server on a thread for tests of our SMTP client:
    one connection at a time (each on a thread of its own when threaded),
    each given to self.session(c) (defined by a subclass; a 10 s timeout
    on it); self.conns counts them, and self.stop.set() ends the server
    within half a second."""

    def __init__(self, ip, port, backlog=8, threaded=False):
        self.conns = 0
        self.threaded = threaded
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((ip, port))
        self.ls.listen(backlog)
        self.ls.settimeout(0.5)
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def session(self, c):
        raise NotImplementedError

    def serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.ls.accept()
            except OSError:
                continue
            self.conns += 1
            c.settimeout(10)
            if self.threaded:
                threading.Thread(target=self.one, args=(c,), daemon=True).start()
            else:
                self.one(c)
        self.ls.close()

    def one(self, c):
        try:
            self.session(c)
        except OSError:
            pass
        c.close()


class Raw:
    """A byte-level SMTP client: send exactly these bytes, read replies."""

    def __init__(self, port, source_ip='127.0.0.1', host='127.0.0.1',
                 timeout=30):
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.bind((source_ip, 0))
        self.s.connect((host, port))
        self.buf = b''

    def send(self, data):
        self.s.sendall(data)

    def _line(self):
        while b'\r\n' not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError('connection closed; got %r' % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line.decode('utf-8', 'replace')

    def reply(self):
        """One whole reply: (code, [text lines])."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != '-':
                return int(line[:3]), lines

    def cmd(self, data):
        self.send(data)
        return self.reply()

    def until_closed(self, timeout):
        """What the server sends until it closes the connection (a reset,
        or TLS ended without its close, counts), each read waiting at most
        timeout s; None when it did not close it."""
        self.s.settimeout(timeout)
        got, self.buf = self.buf, b''
        try:
            while True:
                chunk = self.s.recv(4096)
                if not chunk:
                    return got
                got += chunk
        except socket.timeout:
            return None
        except OSError:
            return got

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def raw_in_data(port, tls_context=None):
    """A Raw client that stopped in the middle of a message's DATA (after
    STARTTLS with tls_context, for the name relaybox.test)."""
    raw = Raw(port)
    raw.reply()
    if tls_context:
        raw.cmd(b'EHLO idle.test\r\n')
        raw.cmd(b'STARTTLS\r\n')
        raw.s = tls_context.wrap_socket(raw.s, server_hostname='relaybox.test')
    for c in (b'EHLO idle.test', b'MAIL FROM:<idle@example.com>',
              b'RCPT TO:<idle@example.org>', b'DATA'):
        raw.cmd(c + b'\r\n')
    raw.send(b'Subject: half\r\n\r\nbody line\r\n')
    return raw


def session_closed(raw):
    """True when the server has closed raw's session (a NOOP finds EOF)."""
    try:
        raw.cmd(b'NOOP\r\n')
    except (EOFError, OSError):
        return True
    return False


def swaks(*args, timeout=60):
    """Run swaks; returns the CompletedProcess (text, output in .stdout)."""
    return subprocess.run(['swaks'] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


_TRACE = re.compile(rb'^(Received|DKIM-Signature):', re.I)


def strip_trace(data):
    """The message without the Received/DKIM-Signature header fields that
    the relay prepended (each with its folded continuation lines)."""
    while _TRACE.match(data):
        end = data.find(b'\r\n')
        while end >= 0 and data[end + 2:end + 3] in (b' ', b'\t'):
            end = data.find(b'\r\n', end + 2)
        if end < 0:
            return data
        data = data[end + 2:]
    return data


def stop_session(proc, timeout=10):
    """Stop a process started with start_new_session=True: SIGTERM, then
    after timeout s SIGKILL to its whole process group (what it started:
    daemons, workers), and reap it."""
    pgid = proc.pid  # start_new_session: it leads its group
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=timeout)


def run_on_small_queue(name, fn, size='2m'):
    """fn(qdir) with qdir a fresh folder on a tmpfs of size (a disk that
    fills up), unmounted and removed after; a SKIP note when not root or
    the mount fails.  Ends the test (finish)."""
    if not is_root():
        skip(name, 'needs root to mount a tmpfs')
        finish()
    top = tempfile.mkdtemp(prefix='relaybox-small-')
    os.chmod(top, 0o755)
    qdir = os.path.join(top, 'queue')
    os.mkdir(qdir)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o',
                        'size=%s,mode=0755' % size, 'tmpfs', qdir],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    if r.returncode != 0:
        skip(name, 'mount tmpfs failed: %s' % r.stdout.strip())
        os.rmdir(qdir)
        os.rmdir(top)
        finish()
    try:
        fn(qdir)
    finally:
        subprocess.run(['umount', qdir], timeout=30)
        os.rmdir(qdir)
        os.rmdir(top)
    finish()


class Instance:
    def __init__(self, conf_overrides=None, rules_text=None, sink=None,
                 ready_timeout=60, pass_fds=(), env=None, wait='ready'):
        self.conf_overrides = dict(conf_overrides or {})
        # more environment for relay-master and its daemons (SSL_CERT_FILE:
        # a test CA as OpenSSL's system store)
        self.extra_env = dict(env or {})
        self.pass_fds = tuple(pass_fds)  # left open for relay-master
        self.rules_text = DEFAULT_RULES if rules_text is None else rules_text
        self.sink = sink
        self.ready_timeout = ready_timeout
        # 'ready': start() waits for run/ready; 'port': only for the SMTP
        # port to answer (an instance that is meant never to be ready)
        self.wait = wait
        self.proc = None
        self.dir = None
        self.port = self.port6 = None

    # --- setting up -------------------------------------------------------
    def path(self, rel):
        return os.path.join(self.dir, rel)

    def _write_conf(self):
        both = _port_free_on_both() if have_ipv6() else None
        self.port = both or free_port('127.0.0.1')
        self.port6 = both if both else None
        listen = '127.0.0.1:%d' % self.port
        if self.port6:
            listen += ' [::1]:%d' % self.port6
        conf = {
            'hostname': 'relaybox.test',
            'listen': listen,
            'retry_min': '2',
            'retry_max': '10',
            'queue_lifetime': '3600',
            'connect_timeout': '10',
            'remote_timeout': '60',
            # MX tests answer from loopback addresses, which MX delivery
            # refuses by default
            'remote_private_addresses': 'allow',
        }
        if self.sink is not None:
            conf['relayhost'] = '[%s]:%d' % (self.sink.host, self.sink.port)
        for kv in filter(None, os.environ.get('RELAYBOX_E2E_CONF', '').split(',')):
            k, _, v = kv.partition('=')
            conf[k.strip()] = v.strip()
        conf.update({k: str(v) for k, v in self.conf_overrides.items()})
        with open(self.path('relay.conf'), 'w') as f:
            f.write('# written by tests/e2e/harness.py\n')
            for k, v in conf.items():
                f.write('%s = %s\n' % (k, v))

    def _write_rules(self):
        with open(self.path('relay.rules'), 'w') as f:
            f.write(self.rules_text)
        r = subprocess.run([os.path.join(BIN, 'makecdb'), '-d', self.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError('makecdb failed (%d): %s' %
                               (r.returncode, r.stdout))

    def prepare(self):
        """Make the directory, relay.conf and the compiled rules only
        (for tests that start the relay themselves, e.g. relayctl start)."""
        self.dir = tempfile.mkdtemp(prefix='relaybox-e2e-')
        os.chmod(self.dir, 0o755)
        self._write_conf()
        self._write_rules()
        return self

    def start(self):
        if not self.dir:
            self.prepare()
        for _ in range(3):
            self._log_mark = len(self.log())  # look only at this run's lines
            self._err = open(self.path('master.stderr'), 'wb')
            self.proc = subprocess.Popen(
                [os.path.join(BIN, 'relay-master'), '-d', self.dir],
                stdin=subprocess.DEVNULL, stdout=self._err,
                stderr=self._err, start_new_session=True,
                pass_fds=self.pass_fds, env=self.environ())
            if self._wait_ready():
                return self
            # another test took the port between free_port() and bind:
            # pick new ports and start again
            self.stop()
            if 'listen' in self.conf_overrides:
                break
            self._write_conf()
        raise RuntimeError('relay-listen could not bind its port\n%s' %
                           self.log_tail())

    def _ready_now(self):
        if self.wait == 'port':
            try:
                socket.create_connection(('127.0.0.1', self.port), 1).close()
                return True
            except OSError:
                return False
        return os.path.exists(self.path('run/ready'))

    def _wait_ready(self):
        """True once run/ready appears (or the port answers, see wait); False when relay-listen found its
        port taken; raises when relay-master exits or times out."""
        deadline = time.time() + self.ready_timeout
        while time.time() < deadline:
            if self._ready_now():
                return True
            if self.proc.poll() is not None:
                raise RuntimeError('relay-master exited with %s\n%s' %
                                   (self.proc.returncode, self.log_tail()))
            if re.search(r'relay-listen\[\d+\]: fatal: bind .*in use',
                         self.log()[self._log_mark:]):
                return False
            time.sleep(0.05)
        raise RuntimeError('relay not ready after %ds\n%s' %
                           (self.ready_timeout, self.log_tail()))

    # --- tearing down -----------------------------------------------------
    def stop(self):
        if not self.proc:
            return
        stop_session(self.proc)
        self.proc = None
        self._err.close()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            self._cleanup(failed=True)
            raise

    def __exit__(self, exc_type, exc, tb):
        failed = exc_type is not None or _failed > 0
        self.stop()
        self._cleanup(failed)
        return False

    def remove(self):
        """Remove a prepare()d directory (printing the log on failures)."""
        self._cleanup(_failed > 0)

    def _cleanup(self, failed):
        if not self.dir:
            return
        if failed:
            print('--- %s (tail):\n%s' % (self.path('log/relay.log'),
                                          self.log_tail(60)), flush=True)
        if os.environ.get('KEEP'):
            print('# instance kept in %s' % self.dir, flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- looking at it ----------------------------------------------------
    def log(self):
        try:
            with open(self.path('log/relay.log'), 'r', errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def log_tail(self, n=40):
        text = self.log()
        try:
            with open(self.path('master.stderr'), 'r',
                      errors='replace') as f:
                err = f.read()
        except OSError:
            err = ''
        lines = text.splitlines()[-n:]
        if err.strip():
            lines += ['--- relay-master stderr:'] + err.splitlines()[-10:]
        return '\n'.join(lines)

    def wait_log(self, regex, timeout=30):
        """The first match of regex in the log, waiting up to timeout s."""
        deadline = time.time() + timeout
        while True:
            m = re.search(regex, self.log(), re.M)
            if m or time.time() >= deadline:
                return m
            time.sleep(0.1)

    def queue_count(self, sub='new'):
        try:
            return len([n for n in os.listdir(self.path('queue/' + sub))
                        if not n.startswith('.')])
        except OSError:
            return -1

    def wait_queue_empty(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.queue_count() == 0:
                return True
            time.sleep(0.2)
        return False

    def environ(self):
        """The environment the relay's programs get: ours at the time
        (tests change it), with extra_env."""
        return dict(os.environ, **self.extra_env)

    def relayctl(self, *args, timeout=60):
        """Run bin/relayctl -d DIR args...; the CompletedProcess (text)."""
        return subprocess.run([os.path.join(BIN, 'relayctl'), '-d', self.dir]
                              + [str(a) for a in args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, env=self.environ())

    def pids(self, programs=None):
        """pids of the instance's processes (its dir on their command
        line: relay-master and the daemons it runs), only those whose
        program's name is in programs when given."""
        out = []
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    argv = f.read().split(b'\0')
            except OSError:
                continue
            if self.dir.encode() in b' '.join(argv) and (
                    not programs or os.path.basename(argv[0]).decode()
                    in programs):
                out.append(int(pid))
        return out

    def pss_kib(self, programs=None):
        """KiB of PSS of the instance's processes (self.pids)."""
        total = 0
        for pid in self.pids(programs):
            try:
                with open('/proc/%d/smaps_rollup' % pid) as f:
                    for line in f:
                        if line.startswith('Pss:'):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def status(self):
        """run/status as {name: (pid, uid)}."""
        out = {}
        try:
            with open(self.path('run/status')) as f:
                for line in f:
                    w = line.split()
                    if len(w) == 5:
                        out[w[0]] = (int(w[1]), int(w[2]))
        except OSError:
            pass
        return out
