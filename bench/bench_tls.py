"""bench_tls.py: what scenario 5 (STARTTLS + AUTH) needs, made once per
run in the bench's temporary folder.

- a self-signed ECDSA P-256 certificate (openssl CLI), used by both
  relays: what certbot (2.0 and later) issues by default, and its
  signature is ~12x cheaper to make than an RSA-2048 one (openssl speed
  on the bench machine: 0.02 ms against 0.29 ms), which every full
  handshake pays on the server;
- for Postfix: Cyrus SASL's smtpd.conf (auxprop/sasldb, PLAIN LOGIN) and
  a sasldb2 holding the user (saslpasswd2; installs sasl2-bin when
  missing), readable by the postfix user;
- for relaybox: the same user as a rules line with a crypt(3) hash from
  makecdb --hash, and a rule that relays for AUTH only (auth=smtp).
The password travels on stdin, never on a command line.
"""
import os
import shutil
import subprocess

USER, DOMAIN, PASSWORD = "bench", "example.com", "Bench-Pass-4096"
SASL_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: {db}
mech_list: PLAIN LOGIN
"""


def ensure_sasl():
    if shutil.which("saslpasswd2") or os.path.exists("/usr/sbin/saslpasswd2"):
        return
    if os.geteuid() != 0:
        raise RuntimeError("saslpasswd2 missing (apt-get install sasl2-bin)")
    subprocess.run(["apt-get", "install", "-y", "libsasl2-modules",
                    "sasl2-bin"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                   timeout=600)


class TlsSetup:
    def __init__(self, workdir, bindir):
        self.dir = os.path.join(workdir, "tls")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        self.login = "%s@%s" % (USER, DOMAIN)
        self.password = PASSWORD
        self.make_cert()
        self.sasl_dir = os.path.join(self.dir, "sasl")
        if os.geteuid() == 0:  # only root runs the Postfix instance
            self.make_sasldb()
        self.hash = self.make_hash(bindir)

    def make_cert(self):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", self.key, "-out", self.cert,
                        "-days", "2", "-subj", "/CN=bench.localhost"],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        os.chmod(self.key, 0o600)

    def make_sasldb(self):
        ensure_sasl()
        os.makedirs(self.sasl_dir)
        os.chmod(self.sasl_dir, 0o755)
        db = os.path.join(self.sasl_dir, "sasldb2")
        with open(os.path.join(self.sasl_dir, "smtpd.conf"), "w") as f:
            f.write(SASL_CONF.format(db=db))
        subprocess.run(["saslpasswd2", "-f", db, "-c", "-p", "-u", DOMAIN,
                        USER], input=self.password + "\n", text=True,
                       check=True, timeout=60)
        shutil.chown(db, "postfix")
        os.chmod(db, 0o600)

    def make_hash(self, bindir):
        r = subprocess.run([os.path.join(bindir, "makecdb"), "--hash"],
                           input=self.password + "\n", text=True,
                           stdout=subprocess.PIPE, check=True, timeout=60)
        return r.stdout.strip()

    def relaybox_rules(self, rules):
        """bench.rules with the IP rule replaced by an AUTH-only one."""
        kept = [line for line in rules.splitlines()
                if not line.startswith(("rule ", "ip "))]
        kept += ["rule bench authed senders=domain auth=smtp",
                 "user %s hash=%s customer=bench" % (self.login, self.hash)]
        return "\n".join(kept) + "\n"

    def client_auth(self):
        return "%s:%s" % (self.login, self.password)
