"""bench_instances.py: the private instances the benchmark drives.

Sink     smtp-sink -c on a free loopback port, counting messages.
Postfix  a private Postfix (its own config, queue and data directories in
         a temporary folder; loopback port; relayhost = the sink;
         mynetworks = 127.0.0.0/8; default durability; connection caching
         on; no chroot; TLS off).
Relaybox a relaybox instance configured the same way (127.0.0.0/8 trusted
         by IP, everything routed to the sink, rate limits raised).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time


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
        wait_port(self.port)

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
        raise RuntimeError("sink got %d of %d messages" % (self.count(), n))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
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
"""


class Postfix:
    def __init__(self, workdir, sink_port):
        self.port = free_port()
        self.dir = os.path.join(workdir, "postfix.%d" % self.port)
        self.sink_port = sink_port

    def setup(self):
        d = self.dir
        for sub in ("etc", "queue", "data"):
            os.makedirs(os.path.join(d, sub))
        shutil.chown(os.path.join(d, "data"), "postfix")
        with open(os.path.join(d, "etc/main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(d=d, sink=self.sink_port))
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
        subprocess.run(["postfix", "-c", self.dir + "/etc", "start"],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def root_pid(self):
        try:
            with open(os.path.join(self.dir, "queue/pid/master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def stop(self):
        subprocess.run(["postfix", "-c", self.dir + "/etc", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid = self.root_pid()
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


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


class Relaybox:
    def __init__(self, workdir, bindir, sink_port, policy=True):
        self.port = free_port()
        self.dir = os.path.join(workdir, "relaybox.%d" % self.port)
        self.bindir = bindir
        self.sink_port = sink_port
        self.policy = policy
        self.proc = None

    def start(self):
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        conf = RELAYBOX_CONF.format(port=self.port, sink=self.sink_port)
        with open(os.path.join(self.dir, "relay.conf"), "w") as f:
            f.write(conf)
        shutil.copy(RELAYBOX_RULES, os.path.join(self.dir, "relay.rules"))
        subprocess.run([os.path.join(self.bindir, "makecdb"), "-d", self.dir],
                       check=True, stdout=subprocess.DEVNULL)
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "relay-master"), "-d", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def root_pid(self):
        return self.proc.pid if self.proc else 0

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                for pid in reversed(tree_pids(self.proc.pid)):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
