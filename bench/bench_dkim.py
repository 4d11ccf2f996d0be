"""bench_dkim.py: DKIM signing for the dkim-rsa and dkim-ed25519 scenarios.

DkimKeys  one RSA-2048 and one Ed25519 key (openssl genpkey), made once
          per bench run; both relays sign d=example.com s=bench with the
          same key file's contents.
OpenDkim  Debian's opendkim daemon (the milter Postfix signs through):
          a private opendkim.conf in the Postfix instance's folder, one
          signing key (Domain/Selector/KeyFile), relaxed/relaxed, From:
          oversigned, on a free loopback TCP port (RequireSafeKeys off:
          the key lies under /tmp, which others may write, and OpenDKIM
          checks every folder above the key); started and stopped
          with its Postfix instance (bench_instances.Postfix(dkim=...)),
          and its processes counted in that instance's memory.
probe()   before a scenario's timed runs: one message through each relay
          to a sink that keeps it (tests/e2e/sink.py), which must carry
          a DKIM-Signature of the expected algorithm -- so that a table
          never compares a relay that signs with one that does not.
"""
import os
import pwd
import shutil
import subprocess
import sys
import time

import bench_instances as inst

HERE = os.path.dirname(os.path.abspath(__file__))
DOMAIN, SELECTOR = "example.com", "bench"
ALGS = {"rsa": "rsa-sha256", "ed25519": "ed25519-sha256"}


class DkimKeys:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "dkimkeys")
        os.mkdir(self.dir, 0o700)
        self.paths = {}
        for alg, args in (("rsa", ["-algorithm", "RSA", "-pkeyopt",
                                   "rsa_keygen_bits:2048"]),
                          ("ed25519", ["-algorithm", "ED25519"])):
            path = os.path.join(self.dir, alg + ".key")
            subprocess.run(["openssl", "genpkey"] + args + ["-out", path],
                           check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
            os.chmod(path, 0o600)
            self.paths[alg] = path

    def install(self, alg, path, user):
        """A copy of the key at path, mode 0600, owned by user (root)."""
        shutil.copy(self.paths[alg], path)
        os.chmod(path, 0o600)
        if os.geteuid() == 0:
            shutil.chown(path, user, pwd.getpwnam(user).pw_gid)
        return path


OPENDKIM_CONF = """\
Mode s
Domain {domain}
Selector {selector}
KeyFile {key}
Canonicalization relaxed/relaxed
SignatureAlgorithm {alg}
OversignHeaders From
InternalHosts 127.0.0.1
Socket inet:{port}@127.0.0.1
PidFile {dir}/opendkim.pid
Syslog no
UMask 007
RequireSafeKeys false
"""


class OpenDkim:
    def __init__(self, folder, keys, alg):
        self.dir = os.path.join(folder, "opendkim")
        self.keys, self.alg = keys, alg
        self.port = inst.free_port()
        self.proc = None

    def milter(self):
        return "inet:127.0.0.1:%d" % self.port

    def start(self):
        os.makedirs(self.dir, 0o755)
        root = os.geteuid() == 0
        user = "opendkim" if root else pwd.getpwuid(os.geteuid()).pw_name
        if root:
            shutil.chown(self.dir, user)
        key = self.keys.install(self.alg, os.path.join(self.dir, "bench.key"),
                                user)
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write(OPENDKIM_CONF.format(domain=DOMAIN, selector=SELECTOR,
                                         key=key, alg=ALGS[self.alg],
                                         port=self.port, dir=self.dir))
            if root:
                f.write("UserID opendkim\n")
        self.log = open(os.path.join(self.dir, "stderr"), "wb")
        self.proc = subprocess.Popen(["/usr/sbin/opendkim", "-f", "-x", conf],
                                     stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        try:
            wait_listen(self.port, self.proc)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError("opendkim did not start: %s" % e)

    def pids(self):
        return inst.tree_pids(self.proc.pid) if self.proc else []

    def stop(self):
        if not self.proc:
            return
        inst.stop_group(self.proc, 10)
        self.proc = None
        self.log.close()


def wait_listen(port, proc, timeout=30):
    """A milter port says nothing first: connect only."""
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listens on port %d" % port)


def probe(name, factory, alg):
    """One message through a fresh relay to a sink that keeps it: it must
    carry our DKIM-Signature with a=<alg>.  Raises RuntimeError if not."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
    from sink import Sink  # aiosmtpd, as the tests use
    relay = None
    with Sink() as sink:
        try:
            relay = factory(sink.port)
            relay.start()
            subprocess.run(["/usr/sbin/smtp-source", "-m", "1", "-l", "512",
                            "-f", "bench@example.com", "-t",
                            "rcpt@example.org", "127.0.0.1:%d" % relay.port],
                           check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT, timeout=60)
            if not sink.wait_for(1, 60):
                raise RuntimeError("%s: the probe message did not arrive"
                                   % name)
            head = sink.messages[0].data.split(b"\r\n\r\n")[0].lower()
        finally:
            if relay:
                relay.stop()
    want = b"a=" + ALGS[alg].encode()
    sig = head.find(b"dkim-signature:")
    if sig < 0 or want not in head[sig:] or \
            b"d=" + DOMAIN.encode() not in head[sig:]:
        raise RuntimeError("%s does not sign with %s d=%s:\n%s"
                           % (name, ALGS[alg], DOMAIN,
                              head.decode(errors="replace")[:800]))
