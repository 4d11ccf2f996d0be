#!/usr/bin/python3
"""dnsserver.py: a tiny authoritative DNS server for relaybox tests.

Usage:
    /usr/bin/python3 tests/e2e/dnsserver.py [--host 127.0.0.1] [--port 0]
        (--zone FILE.json | --zone-json '{...}')

It answers on HOST:PORT (HOST may be IPv6, e.g. ::1) over UDP and TCP (port 0 = a random free port, the
same for both) and prints "READY <port>" on stdout once it listens.  Point
relaybox at it with `resolver = 127.0.0.1:<port>` in relay.conf.

The zone is a JSON object from owner names to either a string, "SERVFAIL"
or "REFUSED" (every query for that name gets that rcode), or an object of
record types:

    {
      "example.test":     {"MX": [[10, "mx1.example.test"], [20, "mx2.example.test"]]},
      "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
      "nullmx.test":      {"MX": [[0, "."]]},
      "s1._domainkey.example.test": {"TXT": ["v=DKIM1; k=rsa; p=MIIB...",
                                             ["v=DKIM1; ", "p=..."]]},
      "broken.test":      "SERVFAIL"
    }

A TXT record is a string, sent as character-strings of at most 255 bytes
each (as a DNS zone file splits a long DKIM key), or a list of strings,
sent as exactly those character-strings; one name may have several.

A name whose object has "AD": true is DNSSEC-signed as far as the tests
go: its answers carry the AD bit when the query asked for it (AD or DO
set), as a validating resolver answers (RFC 6840 5.7); other answers never
do.  TLSA records are "usage selector mtype hex", e.g. "3 1 1 ab12...".

"RAW" sends records exactly as given, in the order given, for tests of
answer order or of malformed records: a list of [type, "hex rdata"],
e.g. {"RAW": [["MX", "000a"], ["A", "7f0000"]]} (an MX record of 2 bytes,
an A record of 3); a type listed there answers from RAW alone.

A name in the zone without records of the asked type gets NOERROR with an
empty answer (NODATA); a name not in the zone gets NXDOMAIN.  A UDP answer
over 512 bytes is truncated (TC), so large answers go over TCP.  A zone FILE
is read again when its modification time changes, so a test may rewrite
it between steps.  The server exits on SIGTERM, and with --watch-stdin also
when its stdin reaches EOF (start it with stdin=PIPE: it then dies with
its test even when the test is killed).
"""
import argparse
import json
import os
import socket
import socketserver
import struct
import subprocess
import sys
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class Zone:
    def __init__(self, path=None, text=None):
        self.path = path
        self.mtime = None
        self.lock = threading.Lock()
        self.data = {}
        if text is not None:
            self.data = self._norm(json.loads(text))
        else:
            self._reload()

    @staticmethod
    def _norm(obj):
        return {k.lower().rstrip(".") + ".": v for k, v in obj.items()}

    def _reload(self):
        if not self.path:
            return
        st = os.stat(self.path)
        # the inode too: two renames within one clock tick keep the mtime
        if (st.st_ino, st.st_mtime_ns) != self.mtime:
            with open(self.path) as f:
                self.data = self._norm(json.load(f))
            self.mtime = (st.st_ino, st.st_mtime_ns)

    def lookup(self, name):
        with self.lock:
            self._reload()
            return self.data.get(name.to_text().lower(), None)


def txt_strings(value):
    """A TXT record's character-strings: a string is cut every 255 bytes,
    a list is taken as it is."""
    if isinstance(value, list):
        return [v.encode() for v in value]
    raw = value.encode()
    return [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]


def rdata_text(rtype, value):
    if rtype == "TXT":
        return " ".join('"%s"' % s.decode().replace("\\", "\\\\")
                        .replace('"', '\\"') for s in txt_strings(value))
    if rtype == "MX":
        pref, host = value
        host = host if host.endswith(".") else host + "."
        return "%d %s" % (pref, host)
    return str(value)


def raw_records(qtype, entry):
    """The RAW records of qtype as wire bytes (owner: a pointer to the
    question's name), and their number."""
    recs = [bytes.fromhex(h) for t, h in entry.get("RAW", []) if t == qtype]
    code = dns.rdatatype.from_text(qtype)
    return b"".join(b"\xc0\x0c" + struct.pack("!HHIH", code, 1, 60, len(rd)) + rd
                    for rd in recs), len(recs)


def answer(zone, wire, udp=False):
    """The reply; over UDP one longer than 512 bytes is truncated (TC set,
    no records), as a real server without EDNS does: the client must
    retry over TCP."""
    q = dns.message.from_wire(wire)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    if not q.question:
        r.set_rcode(dns.rcode.FORMERR)
        return r.to_wire()
    qname = q.question[0].name
    qtype = dns.rdatatype.to_text(q.question[0].rdtype)
    entry = zone.lookup(qname)
    if entry is None:
        r.set_rcode(dns.rcode.NXDOMAIN)
    elif isinstance(entry, str):
        r.set_rcode(dns.rcode.from_text(entry))
    else:
        if entry.get("AD") and q.flags & dns.flags.AD or \
                entry.get("AD") and q.ednsflags & dns.flags.DO:
            r.flags |= dns.flags.AD
        values = entry.get(qtype, [])
        if values:
            rrs = dns.rrset.from_text_list(
                qname, 60, dns.rdataclass.IN, qtype,
                [rdata_text(qtype, v) for v in values])
            r.answer.append(rrs)
    raw, n = raw_records(qtype, entry) if isinstance(entry, dict) else (b"", 0)
    if n:  # header and question alone, then the records, ANCOUNT patched
        r.answer = []
        r.use_edns(False)
        out = r.to_wire()
        out = out[:6] + struct.pack("!H", n) + out[8:] + raw
    else:
        out = r.to_wire()
    if udp and len(out) > 512:
        r.answer = []
        r.flags |= dns.flags.TC
        out = r.to_wire()
    return out


def make_servers(host, port, zone):
    class UDP(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            try:
                sock.sendto(answer(zone, data, udp=True), self.client_address)
            except Exception as e:  # a malformed query: say so, answer nothing
                print("dnsserver: %s" % e, file=sys.stderr)

    class TCP(socketserver.BaseRequestHandler):
        def handle(self):
            s = self.request
            s.settimeout(10)
            try:
                while True:
                    head = s.recv(2, socket.MSG_WAITALL)
                    if len(head) < 2:
                        return
                    (n,) = struct.unpack("!H", head)
                    out = answer(zone, s.recv(n, socket.MSG_WAITALL))
                    s.sendall(struct.pack("!H", len(out)) + out)
            except Exception as e:
                print("dnsserver: %s" % e, file=sys.stderr)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class UDPServer(socketserver.ThreadingUDPServer):
        daemon_threads = True
        address_family = family

    class TCPServer(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = family

    for _ in range(50):  # port 0: find one free for UDP and TCP alike
        u = UDPServer((host, port), UDP)
        p = u.server_address[1]
        try:
            t = TCPServer((host, p), TCP)
            return u, t, p
        except OSError:
            u.server_close()
            if port:
                raise
    raise SystemExit("dnsserver: no free port")


class DnsServer:
    """For a test: this server as a child on a free loopback port, serving
    `zone` (a dict, as above) from a file in `workdir`; .port, .set(zone)
    (rewritten atomically, seen by the next query), .stop().  A context
    manager; the child also exits when the test dies (--watch-stdin)."""

    def __init__(self, zone, workdir):
        self.path = os.path.join(workdir, "zone.json")
        self.set(zone)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--watch-stdin",
             "--zone", self.path], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().split()[1])

    def set(self, zone):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(zone, f)
        os.rename(tmp, self.path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--zone")
    ap.add_argument("--zone-json")
    ap.add_argument("--watch-stdin", action="store_true",
                    help="exit when stdin reaches EOF")
    a = ap.parse_args()
    if not a.zone and a.zone_json is None:
        ap.error("--zone or --zone-json is required")
    zone = Zone(path=a.zone) if a.zone else Zone(text=a.zone_json)
    u, t, port = make_servers(a.host, a.port, zone)
    for srv in (u, t):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("READY %d" % port, flush=True)
    if a.watch_stdin:
        sys.stdin.read()  # the parent closed our stdin (or died): stop
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
