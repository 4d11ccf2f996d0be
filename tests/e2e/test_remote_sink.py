#!/usr/bin/python3
"""test_remote_sink.py: relay-remote against Postfix's smtp-sink, a real
MTA's server code with PIPELINING: 100 jobs of 3 recipients over two
worker connections (as two relay-send workers would), every message
dumped by smtp-sink and counted with its recipients.  Prints the rate as
an "INFO" line for the curious.
"""
import glob
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402

SINK = "/usr/sbin/smtp-sink"
JOBS, RCPTS, WORKERS = 100, 3, 2


def main():
    if not os.path.exists(SINK):
        print("PASS smtp-sink not installed: skipped")
        return 0
    inst = h.Instance({"sink.test": {"MX": [[10, "mx.sink.test"]]}, "mx.sink.test": {"A": ["127.0.0.22"]}})
    dump = tempfile.mkdtemp(prefix="relay-remote-sink-")
    os.chmod(dump, 0o777)
    cmd = [SINK] + (["-u", "nobody"] if os.geteuid() == 0 else []) + \
        ["-d", dump + "/m.", "127.0.0.22:%d" % inst.smtp_port, "64"]
    sink = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        results = []

        def worker(w):
            s = inst.connect()
            for i in range(w, JOBS, WORKERS):
                rc = ["j%d.r%d@sink.test" % (i, k) for k in range(RCPTS)]
                r = h.job(inst, s, rc, body=b"Subject: job %d\r\n\r\n.dot\r\nbody\r\n" % i)
                results.extend(st for st, _, _ in r["rcpt"].values())
            s.close()

        t0 = time.time()
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        took = time.time() - t0
        h.check("smtp-sink: every recipient delivered", results == ["D"] * (JOBS * RCPTS),
                "%d results, %d D" % (len(results), results.count("D")))
        for _ in range(50):  # smtp-sink writes the dump after its reply
            files = glob.glob(dump + "/m.*")
            if len(files) >= JOBS:
                break
            time.sleep(0.1)
        h.check("smtp-sink: one message per job", len(files) == JOBS, "%d files" % len(files))
        rcpts = 0
        for f in files:
            with open(f, "rb") as fh:
                text = fh.read()
            rcpts += text.count(b"X-Rcpt-Args: <j")
        h.check("smtp-sink: every recipient in its transaction", rcpts == JOBS * RCPTS, "%d" % rcpts)
        lines = inst.logtext().count("relay=mx.sink.test")
        h.check("smtp-sink: log line per recipient", lines == JOBS * RCPTS, "%d" % lines)
        print("INFO %d messages, %d recipients in %.2fs (%.0f msg/s, ASan build)" %
              (JOBS, JOBS * RCPTS, took, JOBS / took))
    except Exception as e:
        h.check("no exception (%s: %s)" % (type(e).__name__, e), False)
    finally:
        if h.FAILS:
            print(inst.logtext()[-3000:])
        sink.terminate()
        try:
            sink.wait(5)
        except subprocess.TimeoutExpired:
            sink.kill()
        subprocess.run(["rm", "-rf", dump])
        inst.close()
    return 1 if h.FAILS else 0


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
