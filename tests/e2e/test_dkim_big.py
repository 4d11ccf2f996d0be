#!/usr/bin/python3
"""test_dkim_big: a 30 MB message and a key rotation under load.

- 30 MB: signed, verifies with both verifiers, and relay-queue's memory
  stays bounded while it streams (its VmHWM and peak PSS, sampled every
  50 ms, grow by far less than the message: it is hashed as it streams,
  not held).
- rotation: while a client sends a steady stream, relay.rules switches
  rsa.example from selector r1 to r2 (a key keygen made and whose record
  is published) and makecdb runs; no restart: relay-queue keeps its pid,
  every message arrives and verifies with both verifiers, those sent
  before the switch carry r1, those sent a second after it r2, never r1
  after r2.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish  # noqa: E402
from dkimrelay import DkimRelay, msg, signatures  # noqa: E402
from dkimverify import all_pass, sig_tags  # noqa: E402

BIG = 30 * 1024 * 1024
GROWTH_MAX = 12 * 1024 * 1024  # bytes of VmHWM / PSS growth allowed
STREAM = 30                    # messages in the rotation stream


def proc_kib(pid, name, field):
    """A "Field:  N kB" line of /proc/<pid>/<name>, in KiB (0 if gone)."""
    try:
        with open("/proc/%d/%s" % (pid, name)) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    return proc_kib(pid, "smaps_rollup", "Pss")


def hwm_kib(pid):
    return proc_kib(pid, "status", "VmHWM")


class PeakPss(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, pss_kib(pid), threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, pss_kib(self.pid))


def test_big(r):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"
    body = line * (BIG // len(line))
    pid = r.queue_pid()
    r.send("warmup", msg(subject=b"warm up"))
    r.wait("warmup")
    hwm0, pss0 = hwm_kib(pid), pss_kib(pid)
    sampler = PeakPss(pid)
    sampler.start()
    r.send("big", msg(subject=b"30 MB", body=body))
    m = r.wait("big", timeout=300)
    sampler.stop.set()
    sampler.join()
    hwm1 = hwm_kib(pid)
    check("30 MB: arrived whole", m is not None and
          len(m.data) > len(body), r.inst.log_tail())
    if m:
        ok, why = all_pass(r.verify(m.data), [("example.com", "s1")])
        check("30 MB: both verifiers pass", ok, why)
    print("# relay-queue pid %d: VmHWM %d -> %d KiB, PSS %d KiB, peak %d "
          "KiB during the 30 MB message" % (pid, hwm0, hwm1, pss0,
                                            sampler.peak))
    check("30 MB: relay-queue's VmHWM grew by less than %d MiB"
          % (GROWTH_MAX >> 20), (hwm1 - hwm0) * 1024 < GROWTH_MAX,
          "%d -> %d KiB" % (hwm0, hwm1))
    check("30 MB: relay-queue's peak PSS grew by less than %d MiB"
          % (GROWTH_MAX >> 20), (sampler.peak - pss0) * 1024 < GROWTH_MAX,
          "%d -> %d KiB" % (pss0, sampler.peak))
    check("30 MB: relay-queue is the same process", r.queue_pid() == pid)


def stream(r, sent):
    for i in range(STREAM):
        t = time.monotonic()
        r.send("rot%d" % i, msg(frm=b"Alice <alice@rsa.example>",
                                subject=b"rotation %d" % i,
                                msgid=b"rot%d" % i), "rsa.example")
        sent.append((i, t, time.monotonic()))  # sent, and its 250
        time.sleep(0.1)


def test_rotation(r):
    r.keygen("rsa.example", "r2", "rsa")  # published before the switch
    pid = r.queue_pid()
    sent = []
    t = threading.Thread(target=stream, args=(r, sent), daemon=True)
    t.start()
    while len(sent) < STREAM // 3 and t.is_alive():
        time.sleep(0.05)
    before = time.monotonic()
    r.set_rules(DkimRelay.rule_lines([("example.com", "s1", "rsa"),
                                      ("rsa.example", "r2", "rsa")]))
    switched = time.monotonic()
    t.join(120)
    got = {}
    for i, start, end in sent:
        got[i] = (start, end, r.wait("rot%d" % i, timeout=60))
    check("rotation: every message of the stream arrived",
          len(sent) == STREAM and all(v[2] for v in got.values()),
          r.inst.log_tail())
    sels, bad = [], []
    for i in sorted(got):
        start, end, m = got[i]
        if not m:
            continue
        sig = [sig_tags(v).get("s") for v in signatures(m.data)]
        sels.append((start, end, sig))
        ok, why = all_pass(r.verify(m.data))
        if not ok or len(sig) != 1:
            bad.append((i, sig, why))
    check("rotation: each message has one signature and verifies with both",
          not bad, bad)
    seq = [s[0] if s else "-" for _, _, s in sels]
    first_r2 = seq.index("r2") if "r2" in seq else len(seq)
    check("rotation: r1 until the switch, r2 from a second after it, never "
          "r1 after r2", "r2" in seq and "r1" not in seq[first_r2:] and
          all(s == ["r1"] for _, end, s in sels if end < before) and
          all(s == ["r2"] for start, _, s in sels
              if start > switched + 1.0), seq)
    check("rotation: no restart (relay-queue kept its pid)",
          r.queue_pid() == pid, "%d -> %d" % (pid, r.queue_pid()))


def main():
    keys = [("example.com", "s1", "rsa"), ("rsa.example", "r1", "rsa")]
    with DkimRelay(keys, conf_overrides={"message_size_max": 40 << 20}) as r:
        test_big(r)
        test_rotation(r)


if __name__ == "__main__":
    main()
    finish()
