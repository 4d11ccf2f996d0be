#!/usr/bin/python3
"""test_policy_daemon.py: relay-policy over its socket, as relay-smtpd
talks to it: decisions per phase, AUTH (good, bad, throttled, and not
blocking other sessions), rate replies, reload of rules.cdb under an open
session, explain traces, garbage frames.  Prints PASS/FAIL lines."""
import os, pwd, select, shutil, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ns_frame, ns_read  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RELAYBOX_BIN") or os.path.join(ROOT, "build", "asan", "bin")
HASH = "$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74"  # secret1
failed = 0

def make_hash(pw):
    """makecdb --hash with the password on stdin (never on the command line)."""
    r = subprocess.run([os.path.join(BIN, "makecdb"), "--hash"], input=pw + "\n", text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.stdout.strip()

HASH2 = make_hash("exchange pw")
RULES = f"""
customer acme licenses=25
domain example.com customer=acme
user mailer@example.com hash={HASH} customer=acme
user exchange@example.com hash={HASH2}
rule acme portal senders=registered auth=ip
ip acme portal 127.0.0.10
rule acme exchange senders=any auth=smtp
customer small licenses=1 daily=2
domain small.test customer=small
rule small lan senders=domain auth=ip
ip small lan 127.0.0.20
"""

def check(name, cond, detail=""):
    global failed
    if cond:
        print("PASS", name)
    else:
        failed += 1
        print("FAIL", name, detail)

def send(sock, pairs):
    body = "".join(f"{k}={v}\n" for k, v in pairs).encode()
    sock.sendall(ns_frame(body))

def recv(sock, timeout=10):
    sock.settimeout(timeout)
    data = ns_read(sock)
    if data is None:
        return None
    out = []
    for line in data.decode().split("\n"):
        if line:
            k, _, v = line.partition("=")
            out.append((k, v))
    return out

def ask(sock, pairs):
    send(sock, pairs)
    return recv(sock)

def line(r):
    d = dict(r)
    return f"{d.get('code', '')} {d.get('esc', '')} {d.get('text', '')}".strip()

def session(path, ip, tls="0"):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    ask(s, [("phase", "connect"), ("ip", ip), ("port", "40000"), ("localport", "25"), ("tls", tls)])
    return s

def rate_dir(d):
    """DIR/rate/ as relay-master makes it: relay-policy's own folder, where
    it opens its counters after dropping root."""
    p = os.path.join(d, "rate")
    os.makedirs(p, mode=0o755, exist_ok=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("relaypolicy")
        os.chown(p, pw.pw_uid, pw.pw_gid)

def main():
    d = tempfile.mkdtemp(prefix="test_policy_daemon.")
    os.chmod(d, 0o755)  # relay-policy drops root and must still stat the CDBs
    proc = None
    try:
        with open(os.path.join(d, "relay.conf"), "w") as f:
            f.write("auth_fail_max = 3\n")
        with open(os.path.join(d, "relay.rules"), "w") as f:
            f.write(RULES)
        subprocess.run([os.path.join(BIN, "makecdb"), "-d", d], check=True, stderr=subprocess.DEVNULL)
        os.makedirs(os.path.join(d, "run"), mode=0o755, exist_ok=True)
        rate_dir(d)
        log = open(os.path.join(d, "policy.log"), "w")
        proc = subprocess.Popen([os.path.join(BIN, "relay-policy"), "-d", d], stderr=log)
        path = os.path.join(d, "run", "policy.sock")
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        check("daemon listening", os.path.exists(path))
        scenarios(path, d)
        check("daemon alive at the end", proc.poll() is None)
    finally:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        if failed:
            try:
                print(open(os.path.join(d, "policy.log")).read()[-3000:])
            except OSError:
                pass
        shutil.rmtree(d, ignore_errors=True)

def scenarios(path, d):
    s = session(path, "192.0.2.99")
    r = ask(s, [("phase", "mail"), ("from", "a@example.com"), ("size", "0")])
    check("unknown ip: 550 5.7.0", line(r) == "550 5.7.0 Mail relay denied [192.0.2.99].", line(r))
    check("unknown ip: action reject", dict(r).get("action") == "reject")

    s = session(path, "127.0.0.10")
    ask(s, [("phase", "helo"), ("helo", "portal.example.com")])
    r = ask(s, [("phase", "mail"), ("from", "mailer@example.com"), ("size", "10")])
    check("portal: mail accepted", dict(r).get("action") == "accept" and dict(r).get("from") == "mailer@example.com", str(r))
    check("portal: customer", dict(r).get("customer") == "acme")
    r = ask(s, [("phase", "rcpt"), ("rcpt", "x@example.org")])
    check("portal: rcpt 250", line(r).startswith("250 2.1.5"), line(r))
    r = ask(s, [("phase", "rcpt"), ("rcpt", "x%y@example.org")])
    check("portal: % rcpt refused", line(r).startswith("553 5.1.3"), line(r))
    r = ask(s, [("phase", "data")])
    check("portal: data accepted", dict(r).get("action") == "accept", str(r))
    r = ask(s, [("phase", "commit"), ("qid", "Q1"), ("rcpt", "x@example.org")])
    check("portal: commit", dict(r).get("action") == "accept", str(r))

    # noreply=1 (smtpd's connect, helo, tls, commit, reset): no reply at
    # all, the next reply is the next request's
    n = session(path, "127.0.0.10")
    send(n, [("phase", "helo"), ("helo", "portal.example.com"), ("noreply", "1")])
    r = ask(n, [("phase", "mail"), ("from", "mailer@example.com")])
    check("noreply: helo unanswered, the mail verdict comes first",
          dict(r).get("action") == "accept" and "code" in dict(r), str(r))
    ask(n, [("phase", "rcpt"), ("rcpt", "x@example.org")])
    ask(n, [("phase", "data")])
    send(n, [("phase", "commit"), ("qid", "Q9"), ("noreply", "1")])
    send(n, [("phase", "reset"), ("noreply", "1")])
    r = ask(n, [("phase", "mail"), ("from", "mailer@example.com")])
    check("noreply: commit and reset unanswered, the next mail's verdict",
          dict(r).get("action") == "accept" and "code" in dict(r), str(r))
    n.setblocking(False)
    try:
        extra = n.recv(100)
    except BlockingIOError:
        extra = b""
    check("noreply: nothing more", extra == b"", extra)
    n.close()

    # AUTH: a slow check on one session does not hold up another
    a = session(path, "192.0.2.50", tls="1")
    b = session(path, "127.0.0.10")
    send(a, [("phase", "auth"), ("user", "Exchange@Example.com"), ("pass", "exchange pw")])
    send(b, [("phase", "mail"), ("from", "mailer@example.com")])
    rb = recv(b)
    pending = not select.select([a], [], [], 0)[0]
    check("auth runs aside: other session answered first", rb is not None and pending)
    ra = recv(a)
    check("auth good: 235 and user", dict(ra).get("action") == "accept" and dict(ra).get("user") == "exchange@example.com", str(ra))
    r = ask(a, [("phase", "mail"), ("from", "bounce@foreign.test")])
    check("auth: foreign sender rewritten", dict(r).get("from") == "postmaster@example.com", str(r))
    r = ask(a, [("phase", "reset")])
    r = ask(a, [("phase", "mail"), ("from", "")])
    check("auth: null sender rewritten", dict(r).get("from") == "postmaster@example.com", str(r))
    ask(a, [("phase", "rcpt"), ("rcpt", "one@example.org")])
    r = ask(a, [("phase", "rcpt"), ("rcpt", "two@example.org")])
    check("null sender: second rcpt refused", line(r).startswith("550 5.5.3"), line(r))

    # requests sent back to back in one write (smtpd sends a held helo
    # with the next request): one reply each, in order, also when an AUTH
    # sits between them (here a hit of the AUTH cache: the check above
    # verified these credentials; it has to come after it, which needs a
    # cold cache to show a check running aside)
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    frames = [[("phase", "connect"), ("ip", "192.0.2.51"), ("port", "1"), ("localport", "25"), ("tls", "1")],
              [("phase", "helo"), ("helo", "pipelined.example")],
              [("phase", "auth"), ("user", "exchange@example.com"), ("pass", "exchange pw")],
              [("phase", "mail"), ("from", "exchange@example.com")],
              [("phase", "rcpt"), ("rcpt", "p@example.org")],
              [("phase", "data")]]
    s.sendall(b"".join(ns_frame("".join(f"{k}={v}\n" for k, v in f).encode()) for f in frames))
    got = [recv(s) for _ in frames]
    check("one write, six requests: six replies",
          all(r is not None for r in got), str(got))
    if all(r is not None for r in got):
        acts = [dict(r).get("action") for r in got]
        check("one write: connect, helo accepted", acts[:2] == ["accept", "accept"], str(acts))
        check("one write: the AUTH answer third (235)", line(got[2]).startswith("235"), str(got[2]))
        check("one write: mail after the AUTH, as the user",
              acts[3] == "accept" and dict(got[3]).get("from") == "exchange@example.com", str(got[3]))
        check("one write: rcpt and data accepted", line(got[4]).startswith("250") and acts[5] == "accept",
              str(got[4:]))
    s.close()

    # bad passwords, then throttling (auth_fail_max = 3)
    c = session(path, "192.0.2.51", tls="1")
    for i in range(3):
        r = ask(c, [("phase", "auth"), ("user", "mailer@example.com"), ("pass", "wrong%d" % i)])
        check("auth bad %d: 535 5.7.8" % i, line(r) == "535 5.7.8 Username and Password not accepted.", line(r))
    t0 = time.time()
    r = ask(c, [("phase", "auth"), ("user", "mailer@example.com"), ("pass", "secret1")])
    check("auth throttled: refused even with the right password", line(r).startswith("535 5.7.8"), line(r))
    r = ask(c, [("phase", "mail"), ("from", "mailer@example.com")])
    check("throttled session stays unauthenticated", dict(r).get("action") == "reject", line(r))
    r = ask(session(path, "192.0.2.52", tls="1"), [("phase", "auth"), ("user", "nobody@example.com"), ("pass", "x")])
    check("unknown user: 535", line(r).startswith("535 5.7.8"), line(r))

    # rate: customer small has daily=2
    s = session(path, "127.0.0.20")
    ask(s, [("phase", "mail"), ("from", "a@small.test")])
    got = [line(ask(s, [("phase", "rcpt"), ("rcpt", "r%d@example.org" % i)])) for i in range(3)]
    check("rate: third rcpt over customer daily", got[0].startswith("250") and got[1].startswith("250")
          and got[2] == "550 5.7.1 Daily SMTP relay limit exceeded for customer.", str(got))

    # STARTTLS forgets the HELO name given before it (RFC 3207 4.2)
    s = session(path, "127.0.0.20")
    ask(s, [("phase", "helo"), ("helo", "small.test")])
    r = ask(s, [("phase", "mail"), ("from", "")])
    check("null sender identified by HELO: accepted", dict(r).get("from") == "postmaster@small.test", str(r))
    s = session(path, "127.0.0.20")
    ask(s, [("phase", "helo"), ("helo", "small.test")])
    ask(s, [("phase", "tls"), ("tls", "1"), ("cipher", "x")])
    r = ask(s, [("phase", "mail"), ("from", "")])
    check("after STARTTLS the old HELO no longer identifies", line(r).startswith("550 5.7.1 Invalid credentials"), line(r))

    # explain
    e = socket.socket(socket.AF_UNIX)
    e.connect(path)
    r = ask(e, [("phase", "explain"), ("ip", "127.0.0.10"), ("helo", ""), ("user", ""), ("from", "other@example.com"),
                ("rcpt", "x@example.org"), ("tls", "0")])
    traces = [v for k, v in r if k == "trace"]
    check("explain: refusal with rule", line(r).startswith("550 5.7.1 Sender <other@example.com> refused by rule acme/portal"), line(r))
    check("explain: trace names the customer", any("customer acme found by sender domain" in t for t in traces), str(traces))

    # reload under an open session
    s = session(path, "127.0.0.10")
    r = ask(s, [("phase", "mail"), ("from", "mailer@example.com")])
    check("before reload: accepted", dict(r).get("action") == "accept")
    with open(os.path.join(d, "relay.rules"), "w") as f:
        f.write(RULES.replace("ip acme portal 127.0.0.10", "ip acme portal 127.0.0.11"))
    subprocess.run([os.path.join(BIN, "makecdb"), "-d", d], check=True, stderr=subprocess.DEVNULL)
    r = ask(s, [("phase", "mail"), ("from", "mailer@example.com")])
    check("after reload: same session refused", line(r) == "550 5.7.0 Mail relay denied [127.0.0.10].", line(r))

    # suspension override
    with open(os.path.join(d, "suspended"), "w") as f:
        f.write("customer small\n")
    s = session(path, "127.0.0.20")
    r = ask(s, [("phase", "mail"), ("from", "a@small.test")])
    check("override suspends the customer", line(r) == "550 5.7.1 The account of customer small is suspended.", line(r))

    # only root, our uid and user_smtpd may connect
    if os.geteuid() == 0:
        pid = os.fork()
        if pid == 0:
            try:
                os.setgid(65534)
                os.setuid(65534)
                u = socket.socket(socket.AF_UNIX)
                u.connect(path)
                try:
                    send(u, [("phase", "connect"), ("ip", "127.0.0.10")])
                    got = recv(u, 5)
                except OSError:
                    got = None  # reset by the daemon: refused
                os._exit(0 if got is None else 1)
            except Exception:
                os._exit(2)
        _, st = os.waitpid(pid, 0)
        check("peer uid nobody: refused", os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st)
    check("makecdb --hash gives yescrypt", HASH2.startswith("$y$"), HASH2)

    # rules.cdb removed: the last good rules stay in use
    os.rename(os.path.join(d, "rules.cdb"), os.path.join(d, "rules.cdb.away"))
    s = session(path, "127.0.0.11")
    r = ask(s, [("phase", "mail"), ("from", "mailer@example.com")])
    check("rules.cdb removed: last rules kept", dict(r).get("action") == "accept", line(r))
    os.rename(os.path.join(d, "rules.cdb.away"), os.path.join(d, "rules.cdb"))
    bad_rules_kept(path, d)

    # garbage
    g = socket.socket(socket.AF_UNIX)
    g.connect(path)
    g.sendall(b"5:hello,")
    check("garbage: peer dropped", recv(g, 5) is None)
    g2 = socket.socket(socket.AF_UNIX)
    g2.connect(path)
    g2.sendall(b"99999999:x")
    check("oversized frame: peer dropped", recv(g2, 5) is None)

def bad_rules_kept(path, d):
    """A rules.cdb replaced by a file that is no CDB: the last good rules
    stay in force, relay-policy says so once, and loads the next good one."""
    cdb = os.path.join(d, "rules.cdb")
    os.rename(cdb, cdb + ".good")
    with open(cdb + ".tmp", "wb") as f:
        f.write(b"not a cdb\n")
    os.rename(cdb + ".tmp", cdb)
    for ip in ("127.0.0.11", "127.0.0.11"):
        r = ask(session(path, ip), [("phase", "mail"), ("from", "mailer@example.com")])
        check("rules.cdb not a CDB: last rules kept", dict(r).get("action") == "accept", line(r))
    def said_lines():
        return [l for l in open(os.path.join(d, "policy.log")) if "cannot load the new" in l]
    deadline = time.time() + 5  # the log is written in batches
    while not said_lines() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    said = said_lines()
    check("rules.cdb not a CDB: said once, with the path",
          len(said) == 1 and cdb in said[0] and "not a CDB" in said[0], said)
    shutil.copy(cdb + ".good", cdb + ".tmp")
    os.rename(cdb + ".tmp", cdb)
    os.unlink(cdb + ".good")
    r = ask(session(path, "127.0.0.11"), [("phase", "mail"), ("from", "mailer@example.com")])
    check("rules.cdb good again: loaded", dict(r).get("action") == "accept", line(r))

def no_rules():
    """A daemon started before any makecdb answers 451, never 550."""
    d = tempfile.mkdtemp(prefix="test_policy_norules.")
    os.chmod(d, 0o755)
    os.makedirs(os.path.join(d, "run"))
    proc = subprocess.Popen([os.path.join(BIN, "relay-policy"), "-d", d], stderr=subprocess.DEVNULL)
    try:
        path = os.path.join(d, "run", "policy.sock")
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        s = session(path, "127.0.0.10")
        r = ask(s, [("phase", "mail"), ("from", "mailer@example.com")])
        check("no rules.cdb: 451 4.3.0", line(r) == "451 4.3.0 Relay rules not available, try again later.", line(r))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(d, ignore_errors=True)

if __name__ == "__main__":
    main()
    no_rules()
    sys.exit(1 if failed else 0)
