#!/usr/bin/python3
"""test_dkim_reach: makecdb, run as root, checks that the signing uid
(user_queue, relayqueue) can open each key file, not only root: a key
owned by relayqueue, 0600, but in a directory only root may enter is an
error naming the line and key= (exit 100, rules.cdb untouched), while
the same key in a directory relayqueue may pass through is accepted.
Run as another user, makecdb is the signer itself: nothing to check."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEFAULT_RULES, Instance, check, finish, is_root  # noqa: E402


def makecdb(inst, key):
    with open(inst.path("relay.rules"), "w") as f:
        f.write(DEFAULT_RULES + "dkim example.com s1 key=%s\n" % key)
    return subprocess.run([os.path.join(BIN, "makecdb"), "-d", inst.dir],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)


def main():
    if not is_root():
        print("# not root: makecdb opens keys as the signer already")
        finish()
        return
    inst = Instance()
    try:
        inst.prepare()
        r = inst.relayctl("dkim", "keygen", "example.com", "s1")
        check("keygen", r.returncode == 0, r.stderr)
        key = inst.path("dkim/example.com.s1.key")
        st = os.stat(key)
        for name, mode in (("rootonly", 0o700), ("passable", 0o711)):
            os.mkdir(inst.path(name), mode)
            shutil.copy2(key, inst.path(name + "/s1.key"))
            os.chown(inst.path(name + "/s1.key"), st.st_uid, st.st_gid)
        cdb = inst.path("rules.cdb")
        before = os.stat(cdb).st_mtime_ns if os.path.exists(cdb) else None
        r = makecdb(inst, "rootonly/s1.key")
        line = DEFAULT_RULES.count("\n") + 1
        check("key the signer cannot open: exit 100", r.returncode == 100,
              "%d %s" % (r.returncode, r.stdout))
        check("key the signer cannot open: the error names line, key=, uid",
              ("relay.rules:%d:" % line) in r.stdout and
              "rootonly/s1.key" in r.stdout and "relayqueue" in r.stdout and
              "Permission denied" in r.stdout, r.stdout)
        check("key the signer cannot open: rules.cdb untouched",
              (os.stat(cdb).st_mtime_ns if os.path.exists(cdb) else None)
              == before)
        r = makecdb(inst, "passable/s1.key")
        check("key in a directory the signer may pass: exit 0",
              r.returncode == 0, r.stdout)
        r = makecdb(inst, "dkim/example.com.s1.key")
        check("key in DIR/dkim: exit 0", r.returncode == 0, r.stdout)
    finally:
        inst.remove()
    finish()


if __name__ == "__main__":
    main()
