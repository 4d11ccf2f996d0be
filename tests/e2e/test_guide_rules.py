#!/usr/bin/python3
"""test_guide_rules.py: every relay.rules recipe of every client guide
(doc/clients/*.md, the blocks after <!-- recipe: rules... -->) compiles
with makecdb, without a warning, the guides that no test can run (Exchange, Domino,
GroupWise, qmail, macOS, printers) included: the relay side of each
guide is copyable as written.  A hash left as `$y$j9T$...` in a
documentation-only guide is replaced by a real one.  Needs no root."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, finish  # noqa: E402
from guide import GUIDES, recipes  # noqa: E402
from test_auth import make_hash  # noqa: E402

PLACEHOLDER = 'hash=$y$j9T$...'


def compiles(text):
    d = tempfile.mkdtemp(prefix='relaybox-guide-rules-')
    try:
        with open(os.path.join(d, 'relay.rules'), 'w') as f:
            f.write(text)
        return subprocess.run([os.path.join(BIN, 'makecdb'), '-n', '-d', d],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=60)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    real = 'hash=' + make_hash('Example-Passw0rd')
    guides = sorted(glob.glob(os.path.join(GUIDES, '*.md')))
    check('there are guides with relay.rules recipes', guides)
    seen = 0
    for path in guides:
        guide = os.path.basename(path)[:-3]
        for name, text in recipes(guide).items():
            if not name.startswith('rules'):
                continue
            seen += 1
            r = compiles(text.replace(PLACEHOLDER, real))
            check('%s.md %s: makecdb -n accepts it without a warning'
                  % (guide, name), r.returncode == 0 and
                  ' 0 errors, 0 warnings' in r.stdout, r.stdout)
    check('at least one rules recipe per guide with a relay side',
          seen >= 12, seen)
    finish()


if __name__ == '__main__':
    main()
