#!/usr/bin/python3
"""rspamd.py: a real rspamd (Debian's package) on loopback for a test.

    with Rspamd() as r:       # r.addr = '127.0.0.1:PORT' (the normal worker)
        ...                   # r.milter = '127.0.0.1:PORT' (the proxy worker,
                              #   milter mode, for Postfix in the bench)
        r.stop()              # the scanner gone: what the relay does then

Its whole configuration is written into a temporary folder: the
distribution's common.conf (the modules and their scores), a normal and
a proxy worker on free loopback ports, no controller, the database, pid
and log under the folder, DNS pointed at a loopback
server of its own (tests/e2e/dnsserver.py with an empty zone: every
lookup, RBLs and maps included, gets NXDOMAIN at once, instead of a
timeout that would stall each scan), and the modules that would sign or
need Redis off.  Started in its own session; stopped (SIGTERM, then
SIGKILL of that session's process group) on exit, even after a failure.
The first start takes 10-40 s (rspamd compiles its rules' regular
expressions); later ones take the compiled rules from HS_CACHE."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

from harness import ROOT, free_port, stop_session

GTUBE = b'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'

CONF = """\
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    dns { nameserver = ["127.0.0.1:%(dns)d"]; timeout = 1s; retransmits = 1; }
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "%(level)s"; }
worker "normal" {
    bind_socket = "127.0.0.1:%(normal)d";
    .include "$CONFDIR/worker-normal.inc"
    count = %(count)d;
}
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:%(proxy)d";
    milter = yes;
    timeout = 120s;
    upstream "local" { default = yes; hosts = "127.0.0.1:%(normal)d"; }
    count = %(count)d;
}
"""

# modules whose work has no place in a test: signing, Redis, the network
OFF = ('dkim_signing', 'arc', 'fuzzy_check', 'ratelimit', 'greylist',
       'replies', 'neural', 'history_redis', 'reputation', 'url_redirector')


# rspamd compiles its rules' regular expressions (hyperscan) at every
# start: 10-40 s of CPU.  The databases depend only on the rules and on
# rspamd (which checks each file it loads and compiles again what does not
# match), so they are kept in HS_CACHE: copied into the instance's db/
# before it starts, the new ones copied back when it stops.  A few small
# ones get new names at every start: past HS_CACHE_MAX files the cache is
# emptied before the copy back, which refills it.
HS_CACHE = os.path.join(ROOT, 'build', 'rspamd-hs')
HS_CACHE_MAX = 300
HS_FILE = re.compile(r'^[0-9a-f]{64}\.(hs|hsmp|hsmc)$')


def _hs_copy(src, dst, owner=None):
    """Copy src's hyperscan files that dst lacks, each renamed into
    place: a test beside reading dst never sees half a file."""
    try:
        have = set(os.listdir(dst))
        names = [n for n in os.listdir(src)
                 if HS_FILE.match(n) and n not in have]
    except OSError:
        return
    for n in names:
        tmp = os.path.join(dst, '.%s.%d' % (n, os.getpid()))
        try:
            shutil.copyfile(os.path.join(src, n), tmp)
            if owner:
                shutil.chown(tmp, owner, owner)
            os.replace(tmp, os.path.join(dst, n))
        except OSError:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _hs_save(db):
    """Copy the instance's new hyperscan files into HS_CACHE."""
    try:
        names = os.listdir(HS_CACHE)
        if len(names) > HS_CACHE_MAX:
            for n in names:
                os.unlink(os.path.join(HS_CACHE, n))
    except OSError:
        pass  # a test beside emptied it first
    _hs_copy(db, HS_CACHE)


class Rspamd:
    def __init__(self, count=1, timeout=90, level='error'):
        self.count = count
        self.level = level
        self.timeout = timeout
        self.proc = None
        self.dns = None
        self.dir = None
        self.addr = self.milter = None

    def _start_dns(self):
        """dnsserver.py, empty zone: NXDOMAIN for every name; its port."""
        here = os.path.dirname(os.path.abspath(__file__))
        self.dns = subprocess.Popen(
            ['/usr/bin/python3', os.path.join(here, 'dnsserver.py'),
             '--port', '0', '--zone-json', '{}', '--watch-stdin'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True)
        line = self.dns.stdout.readline().split()
        if len(line) != 2 or line[0] != 'READY':
            raise RuntimeError('dnsserver.py did not start')
        return int(line[1])

    def _write(self):
        self.dir = tempfile.mkdtemp(prefix='relaybox-rspamd-')
        os.chmod(self.dir, 0o755)
        local = os.path.join(self.dir, 'local.d')
        os.mkdir(local)
        for name in OFF:
            with open(os.path.join(local, name + '.conf'), 'w') as f:
                f.write('enabled = false;\n')
        self.port = free_port()
        self.proxy_port = free_port()
        with open(os.path.join(self.dir, 'rspamd.conf'), 'w') as f:
            f.write(CONF % {'normal': self.port, 'proxy': self.proxy_port,
                            'dns': self._start_dns(), 'count': self.count,
                            'level': self.level})
        for sub in ('db', 'run', 'log'):
            os.mkdir(os.path.join(self.dir, sub))
            if os.geteuid() == 0:
                shutil.chown(os.path.join(self.dir, sub), '_rspamd', '_rspamd')
        try:
            os.makedirs(HS_CACHE, exist_ok=True)
        except OSError:
            pass  # no cache: rspamd compiles, as it would anyway
        _hs_copy(HS_CACHE, os.path.join(self.dir, 'db'),
                 '_rspamd' if os.geteuid() == 0 else None)
        self.addr = '127.0.0.1:%d' % self.port
        self.milter = '127.0.0.1:%d' % self.proxy_port

    def start(self):
        """Start (again, after stop(): the same folder and ports)."""
        if not self.dir:
            self._write()
        argv = ['rspamd', '-f', '-c', os.path.join(self.dir, 'rspamd.conf')]
        if os.geteuid() == 0:
            argv += ['-u', '_rspamd', '-g', '_rspamd']
        for var, sub in (('DBDIR', 'db'), ('RUNDIR', 'run'),
                         ('LOGDIR', 'log')):
            argv.append('--var=%s=%s' % (var, os.path.join(self.dir, sub)))
        argv.append('--var=LOCAL_CONFDIR=' + self.dir)
        self._out = open(os.path.join(self.dir, 'stderr'), 'wb')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._out,
                                     start_new_session=True)
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('rspamd exited: %s' % self.errors())
            if self.ping():
                return self
            time.sleep(0.2)
        raise RuntimeError('rspamd not ready: %s' % self.errors())

    def ping(self):
        try:
            with urllib.request.urlopen('http://%s/ping' % self.addr,
                                        timeout=2) as r:
                return r.read().strip() == b'pong'
        except OSError:
            return False

    def check(self, message):
        """rspamd's own verdict (the test's reference), as a dict."""
        import json
        req = urllib.request.Request('http://%s/checkv2' % self.addr,
                                     data=message, method='POST')
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def errors(self):
        out = []
        for name in ('stderr', 'log/rspamd.log'):
            try:
                with open(os.path.join(self.dir, name), errors='replace') as f:
                    out += f.read().splitlines()[-10:]
            except OSError:
                pass
        return '\n'.join(out)

    def stop(self):
        if not self.proc:
            return
        stop_session(self.proc)
        self.proc = None
        self._out.close()
        _hs_save(os.path.join(self.dir, 'db'))

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            self.remove()
            raise

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        self.remove()
        return False

    def remove(self):
        if self.dns:
            self.dns.stdin.close()
            stop_session(self.dns)
            self.dns = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
