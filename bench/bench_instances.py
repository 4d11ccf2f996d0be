"""bench_instances.py: the private instances the benchmark drives.

Sink     smtp-sink -c on a free loopback port, counting messages.
Postfix  a private Postfix (its own config, queue and data directories in
         a temporary folder; loopback port; relayhost = the sink;
         mynetworks = 127.0.0.0/8; default durability; connection caching
         on; no chroot; TLS off).
Relaybox a relaybox instance configured the same way (127.0.0.0/16 trusted
         by IP -- relaybox refuses wider ranges --, everything routed to
         the sink, rate limits raised).
With tls= (a bench_tls.TlsSetup) both offer STARTTLS with a self-signed
certificate and relay only for a client that authenticated (AUTH PLAIN
after STARTTLS): Postfix through Cyrus SASL's sasldb, relaybox through a
user line in its rules.
Every instance registers in LIVE until stopped, so that bench.py can stop
whatever is left when it is interrupted.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

LIVE = set()  # instances started and not yet stopped


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(512)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listens on port %d" % port)


def tree_pids(root):
    """root and all its descendants, from /proc."""
    if not root:
        return []
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sink:
    def __init__(self, workdir):
        self.port = free_port()
        self.out = os.path.join(workdir, "sink.%d.out" % self.port)
        args = ["/usr/sbin/smtp-sink", "-c"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += ["127.0.0.1:%d" % self.port, "1000"]
        self.file = open(self.out, "wb")
        self.proc = subprocess.Popen(args, stdout=self.file,
                                     stderr=subprocess.STDOUT)
        LIVE.add(self)
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError("smtp-sink did not start on port %d"
                               % self.port)

    def count(self):
        with open(self.out, "rb") as f:
            data = f.read()
        found = re.findall(rb"mesg=(\d+)", data)
        return int(found[-1]) if found else 0

    def wait_for(self, n, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= n:
                return
            time.sleep(0.05)
        raise RuntimeError("the sink got %d of %d messages within %d s"
                           % (self.count(), n, timeout))

    def stop(self):
        LIVE.discard(self)
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.file.close()


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.localhost
mydomain = bench.localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink}
smtpd_relay_restrictions = permit_mynetworks, reject
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_connection_cache_on_demand = yes
default_process_limit = 100
alias_maps =
alias_database =
"""


POSTFIX_TLS = """\
smtpd_tls_security_level = may
smtpd_tls_cert_file = {d}/cert.pem
smtpd_tls_key_file = {d}/key.pem
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
cyrus_sasl_config_path = {d}/etc/sasl
smtpd_relay_restrictions = permit_sasl_authenticated, reject
"""


POSTFIX_MILTER = """\
smtpd_milters = {milter}
non_smtpd_milters = $smtpd_milters
milter_default_action = tempfail
milter_protocol = 6
"""


# the archive scenario: every message copied to an address whose domain
# goes to a second sink (an archive server is another host)
ARCHIVE_ADDR = "archive@archive.example"

POSTFIX_ARCHIVE = """\
always_bcc = %s
transport_maps = inline:{{ archive.example=smtp:[127.0.0.1]:{port} }}
""" % ARCHIVE_ADDR


class SharedMilter:
    """A milter that runs beside the relays for the whole scenario (the
    scan scenario's rspamd proxy worker): nothing to start or stop per
    run, and its memory is in neither relay's column."""

    def __init__(self, addr):
        self.addr = addr

    def milter(self):
        return "inet:" + self.addr

    def start(self):
        pass

    def stop(self):
        pass

    def pids(self):
        return []


class Postfix:
    def __init__(self, workdir, sink_port, tls=None, milter=None,
                 archive=None, main_extra=""):
        self.archive_sink = archive  # a Sink: always_bcc's copies go there
        self.main_extra = main_extra  # more main.cf lines (bench_fair)
        self.port = free_port()
        self.dir = os.path.join(workdir, "postfix.%d" % self.port)
        self.sink_port = sink_port
        self.tls = tls
        # milter(folder): a bench_dkim.OpenDkim, started and stopped here
        self.milter = milter(self.dir) if milter else None

    def main_cf(self):
        conf = POSTFIX_MAIN.format(d=self.dir, sink=self.sink_port)
        if self.tls:  # TLS on, relay for AUTH only
            for line in ("smtpd_tls_security_level = none\n",
                         "smtpd_relay_restrictions = permit_mynetworks, "
                         "reject\n"):
                conf = conf.replace(line, "")
            conf += POSTFIX_TLS.format(d=self.dir)
            shutil.copy(self.tls.cert, self.dir)
            shutil.copy(self.tls.key, self.dir)
            # Debian's Postfix reads $config_directory/sasl/smtpd.conf
            # whatever cyrus_sasl_config_path says: put it in both
            os.makedirs(os.path.join(self.dir, "etc/sasl"))
            shutil.copy(os.path.join(self.tls.sasl_dir, "smtpd.conf"),
                        os.path.join(self.dir, "etc/sasl"))
        if self.milter:
            conf += POSTFIX_MILTER.format(milter=self.milter.milter())
        if self.archive_sink:
            conf += POSTFIX_ARCHIVE.format(port=self.archive_sink.port)
        return conf + self.main_extra

    def setup(self):
        d = self.dir
        for sub in ("etc", "queue", "data"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        shutil.chown(os.path.join(d, "data"), "postfix")
        with open(os.path.join(d, "etc/main.cf"), "w") as f:
            f.write(self.main_cf())
        with open("/etc/postfix/master.cf.proto") as f:
            master = f.read()
        lines = []
        for line in master.splitlines():
            f = line.split()
            if line and not line[0].isspace() and not line.startswith("#") \
                    and len(f) >= 8:
                if f[0] == "smtp" and f[1] == "inet":
                    f[0] = "127.0.0.1:%d" % self.port
                f[4] = "n"  # no chroot
                line = "  ".join(f)
            lines.append(line)
        with open(os.path.join(d, "etc/master.cf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        shutil.copy("/etc/postfix/dynamicmaps.cf", os.path.join(d, "etc"))

    def start(self):
        self.setup()
        LIVE.add(self)
        if self.milter:
            self.milter.start()
        r = subprocess.run(["postfix", "-c", self.dir + "/etc", "start"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix start failed (%d): %s"
                               % (r.returncode, r.stdout.strip()))
        try:
            wait_port(self.port)
        except RuntimeError:
            raise RuntimeError("Postfix does not listen on port %d:\n%s"
                               % (self.port, self.log_tail()))

    def log_tail(self, n=15):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no maillog)"

    def root_pid(self):
        try:
            with open(os.path.join(self.dir, "queue/pid/master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def stop(self):
        LIVE.discard(self)
        pid = self.root_pid()
        subprocess.run(["postfix", "-c", self.dir + "/etc", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        else:
            kill_tree(pid)  # postfix stop did not end it in 10 s
        if self.milter:
            self.milter.stop()
        if self.archive_sink:
            self.archive_sink.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def pids(self):
        """Postfix's master and its children, and the milter's."""
        return tree_pids(self.root_pid()) + (
            self.milter.pids() if self.milter else [])


def stop_group(proc, grace):
    """SIGTERM to proc, grace seconds to end, then SIGKILL to its process
    group (it was started with start_new_session: its children too)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if proc.poll() is None:
        proc.wait(10)


def kill_tree(pid):
    """SIGKILL a process and every descendant (children first)."""
    for p in reversed(tree_pids(pid)):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


RELAYBOX_CONF = """\
hostname = relaybox.bench.localhost
listen = 127.0.0.1:{port}
relayhost = [127.0.0.1]:{sink}
retry_min = 5
conn_max = 2000
conn_per_ip = 2000
user_daily_messages = 1000000000
user_daily_rcpts = 1000000000
customer_daily_cap = 1000000000
customer_peak_cap = 1000000000
"""

RELAYBOX_RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "bench.rules")


class Scraper:
    """GET /metrics once a second, as Prometheus would, until stop();
    counts the scrapes that answered 200."""

    def __init__(self, port):
        self.url = "http://127.0.0.1:%d/metrics" % port
        self.ok = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.done.wait(1.0):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    r.read()
                    self.ok += r.status == 200
            except OSError:
                pass

    def stop(self):
        self.done.set()
        self.thread.join(10)


class Relaybox:
    def __init__(self, workdir, bindir, sink_port, rate=True, tls=None,
                 dkim=None, store=None, archive=None, extra=("", ""),
                 scraped=False, scan=None):
        self.scan = scan  # rspamd's address: every message scanned
        self.dkim = dkim  # (bench_dkim.DkimKeys, alg): relay-queue signs
        # relay-metrics running and its /metrics fetched every second
        self.scraped = scraped
        self.scraper = None
        self.extra = extra  # (relay.conf, relay.rules) lines (bench_fair)
        self.store = store  # a RedisServer: rate_store = redis://...
        self.archive_sink = archive  # a Sink: the customer's archive=
        self.port = free_port()
        self.dir = os.path.join(workdir, "relaybox.%d" % self.port)
        self.bindir = bindir
        self.sink_port = sink_port
        self.rate = rate
        self.tls = tls
        self.proc = None

    def write_config(self):
        conf = RELAYBOX_CONF.format(port=self.port, sink=self.sink_port)
        if not self.rate:
            conf += "rate_accounting = no\n"
        if self.scraped:
            self.metrics_port = free_port()
            conf += "metrics_listen = 127.0.0.1:%d\n" % self.metrics_port
        if self.store:
            conf += "rate_store = %s\nrate_store_prefix = b%d:\n" % (
                self.store.url(0), self.port)
            self.store.write_auth(self.dir)
        with open(RELAYBOX_RULES) as f:
            rules = f.read()
        if self.tls:
            conf += "tls_cert = %s/cert.pem\ntls_key = %s/key.pem\n" % (
                self.dir, self.dir)
            rules = self.tls.relaybox_rules(rules)
            # the key stays root's: relay-master reads it
            for name in ("cert.pem", "key.pem"):
                shutil.copy(getattr(self.tls, name[:-4]),
                            os.path.join(self.dir, name))
        if self.dkim:
            rules += self.dkim_key()
        if self.archive_sink:
            conf, rules = self.archive_config(conf, rules)
        conf, rules = conf + self.extra[0], rules + self.extra[1]
        if self.scan:  # scored, never refused: the bench mail is clean
            conf += "scan_rspamd = %s\n" % self.scan
            rules = rules.replace("customer bench ",
                                  "customer bench scan=score ")
        with open(os.path.join(self.dir, "relay.conf"), "w") as f:
            f.write(conf)
        with open(os.path.join(self.dir, "relay.rules"), "w") as f:
            f.write(rules)

    def archive_config(self, conf, rules):
        """archive= on the customer; its domain routed to the second sink
        (relayhost would override every route: the sink is the default
        route instead)."""
        conf = conf.replace("relayhost = [127.0.0.1]:%d\n" % self.sink_port,
                            "")
        rules = rules.replace("customer bench ", "customer bench archive=%s "
                              % ARCHIVE_ADDR)
        rules = rules.replace(
            "route default mx\n", "route default [127.0.0.1]:%d\n"
            "route rcpt archive.example [127.0.0.1]:%d\n"
            % (self.sink_port, self.archive_sink.port))
        return conf, rules

    def dkim_key(self):
        """dkim/example.com.bench.key for relay-queue's uid; the line."""
        keys, alg = self.dkim
        d = os.path.join(self.dir, "dkim")
        os.mkdir(d, 0o700)
        if os.geteuid() == 0:
            shutil.chown(d, "relayqueue", "relayqueue")
        keys.install(alg, os.path.join(d, "example.com.bench.key"),
                     "relayqueue")
        return "dkim example.com bench alg=%s\n" % alg

    def start(self):
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.write_config()
        r = subprocess.run([os.path.join(self.bindir, "makecdb"), "-d",
                            self.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("makecdb failed: " + r.stdout.strip())
        LIVE.add(self)
        # its own process group: stop() can end every child, sessions too
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "relay-master"), "-d", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.wait_ready(30)
        if self.scraped:
            self.scraper = Scraper(self.metrics_port)

    def log_tail(self, n=15):
        try:
            with open(os.path.join(self.dir, "log/relay.log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout):
        """run/ready appears once every daemon listens; a daemon missing
        from the bin directory is a failed start, not a slow relay."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("relay-master exited (%s):\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if os.path.exists(os.path.join(self.dir, "run/ready")):
                if "not found: not started" in self.log_tail(50):
                    raise RuntimeError("relaybox is missing a daemon:\n"
                                       + self.log_tail())
                wait_port(self.port)
                return
            time.sleep(0.05)
        raise RuntimeError("relaybox not ready after %d s:\n%s"
                           % (timeout, self.log_tail()))

    def root_pid(self):
        return self.proc.pid if self.proc else 0

    def pids(self):
        return tree_pids(self.root_pid())

    def stop(self):
        LIVE.discard(self)
        if self.scraper:
            self.scraper.stop()
            self.scraper = None
        if self.proc:
            stop_group(self.proc, 15)
            self.proc = None
        if self.archive_sink:
            self.archive_sink.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
