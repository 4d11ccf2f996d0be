#!/usr/bin/python3
"""test_behaviour_doc.py: doc/BEHAVIOUR.md §5 lists every reply the relay
gives its clients.  Every (code, enhanced code) pair that the client-facing
code can send (smtpd/, policy/, lib/: reply strings, policy_reply()
calls, 421 closes and refusals, the address reply table) must be in §5's
table, and every pair in the table must still be in the code: the
contract and the code cannot drift apart silently.  Needs no root."""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, check, finish  # noqa: E402

ESC = r'([245]\.\d{1,3}\.\d{1,3})'
CODE_PATTERNS = [
    re.compile(r'"([245]\d\d) ' + ESC),               # "550 5.7.1 text"
    re.compile(r'\b([245]\d\d),\s*"' + ESC + '"'),     # policy_reply(.., 550, "5.7.1"
]
CLOSE421 = re.compile(r'(?:close421|listen_sock_refuse)\(\w+,\s*"' + ESC +
                      '"')
ADDR_ROW = re.compile(r'\{\s*ADDR_\w+,\s*([245]\d\d),\s*"' + ESC + r'",\s*"' +
                      ESC + r'"\s*\}')


def code_pairs():
    pairs = {}
    for d in ('smtpd', 'policy', 'lib'):
        for path in glob.glob(os.path.join(ROOT, d, '*.c')):
            with open(path) as f:
                text = f.read()
            where = os.path.relpath(path, ROOT)
            found = []
            for pat in CODE_PATTERNS:
                found += pat.findall(text)
            found += [('421', e) for e in CLOSE421.findall(text)]
            for code, a, b in ADDR_ROW.findall(text):
                found += [(code, a), (code, b)]
            for p in found:
                pairs.setdefault(p, where)
    return pairs


def doc_pairs():
    with open(os.path.join(ROOT, 'doc', 'BEHAVIOUR.md')) as f:
        text = f.read()
    table = text[text.index('## 5. Every reply'):]
    table = table[:table.index('\n## ', 3)]
    return set(re.findall(r'`([245]\d\d) ' + ESC, table))


def main():
    code = code_pairs()
    doc = doc_pairs()
    check('the code has replies to compare (%d pairs)' % len(code),
          len(code) > 30, sorted(code))
    check('§5 of doc/BEHAVIOUR.md has a table (%d pairs)' % len(doc),
          len(doc) > 30, sorted(doc))
    for pair in sorted(set(code) - doc):
        check('doc/BEHAVIOUR.md §5 lists %s %s (%s)' % (pair + (code[pair],)),
              False)
    for pair in sorted(doc - set(code)):
        check('%s %s of doc/BEHAVIOUR.md §5 is still sent by the code'
              % pair, False)
    check('every reply of the code is in §5 and every reply of §5 in the '
          'code', set(code) == doc)
    finish()


if __name__ == '__main__':
    main()
