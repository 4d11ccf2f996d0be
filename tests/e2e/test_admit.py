#!/usr/bin/python3
"""test_admit.py: queue admission (ARCHITECTURE.md, "Trust model"): a
taken-over relay-smtpd must not be an open relay with forged provenance.
Everything is sent as relay-smtpd's uid (a connection made by a child
that switched to it, handed back over a socketpair: SO_PEERCRED is the
connecting process's), on a real instance; root only.

Shows: a hand-made inline injection on run/queue.sock with any sender,
recipient, ip=10.9.8.7 and auth=ceo@example.com is refused (status 100)
and nothing is queued; relay-policy gives a proof with an accepted DATA
(and already with each accepted RCPT, for the recipients so far), and
that injection is queued with a receipt; the same proof again is
refused, as is a proof for other recipients, another sender, or a
claimed ip/auth/null_sender it does not cover; the queued message's
Received header
and relay-queue's log line carry policy's provenance (ESMTPS, not the
ESMTPSA that was claimed without AUTH); commits without relay-queue's
receipt for the session's own transaction (none, made up, or used
before) leave the customer's counters alone, while a real message is
counted; a plain SMTP session still relays.  The client's address is the
kernel's: relay-policy asks the TCP socket relay-smtpd attaches to
phase=connect, so a claimed address other than the socket's peer, a
connect without a socket, or a socket that was not accepted on one of our
listeners (or a privileged port) gets no IP trust."""
import os
import pwd
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, inline_frames,  # noqa: E402
                     is_root, ns_frame, ns_read_kv, skip, smtp_session,
                     tcp_pair, wait_until)

RULES = """\
customer one licenses=1 paid=yes
domain one.example customer=one
rule one lo senders=domain auth=ip
ip one lo 127.0.0.1/32
"""
MSG = b'Subject: admit\r\n\r\nbody\r\n'


def connect_as(user, path):
    """A unix socket connected to path by a process running as user."""
    pw = pwd.getpwnam(user)
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the child: become user, connect, hand the socket over
        try:
            a.close()
            os.setgroups([])
            os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
            os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            socket.send_fds(b, [b'x'], [s.fileno()])
            os._exit(0)
        except BaseException:
            os._exit(1)
    b.close()
    _, fds, _, _ = socket.recv_fds(a, 1, 1)
    os.waitpid(pid, 0)
    a.close()
    s = socket.socket(fileno=fds[0])
    s.settimeout(30)
    return s


def env(info, sender, rcpts):
    e = b''.join(b'I%s=%s\0' % (k.encode(), v.encode()) for k, v in info)
    e += b'F' + sender.encode() + b'\0'
    e += b''.join(b'T' + r.encode() + b'\0' for r in rcpts)
    return e + b'\0'


def inject(q, info, sender, rcpts):
    q.sendall(inline_frames(MSG, env(info, sender, rcpts)))
    return ns_read_kv(q) or {}


def ask(p, phase, attach=None, **kv):
    body = 'phase=%s\n' % phase + ''.join(
        '%s=%s\n' % (k, v) for k, v in kv.items())
    if attach is None:
        p.sendall(ns_frame(body.encode()))
    else:  # as relay-smtpd attaches the client's socket to connect
        socket.send_fds(p, [ns_frame(body.encode())], [attach.fileno()])
    return ns_read_kv(p) or {}


def session(p, client_ip='127.0.0.1', claim='127.0.0.1', attach='accepted',
            helo='good.example'):
    """phase=connect claiming claim, with the accepted end of a TCP
    connection from client_ip attached (or its client end, or none)."""
    srv, cli = tcp_pair(client_ip)
    with srv, cli:
        sock = {'accepted': srv, 'client': cli, 'none': None}[attach]
        ask(p, 'connect', attach=sock, ip=claim, port='4711',
            localport='25', tls='1')
    ask(p, 'helo', helo=helo)


def admitted(p, sender, rcpts, helo='good.example'):
    """One transaction on policy: its DATA reply (with the proof)."""
    session(p, helo=helo)
    ask(p, 'mail', **{'from': sender, 'size': '100'})
    for r in rcpts:
        ask(p, 'rcpt', rcpt=r)
    return ask(p, 'data')


def proof_info(d, proto='ESMTPS'):
    """The envelope's info fields as an honest relay-smtpd sends them."""
    info = [('admit', d.get('admit', '')), ('ip', d.get('ip', '')),
            ('helo', d.get('helo', ''))]
    if d.get('auth'):
        info.append(('auth', d['auth']))
    if d.get('customer'):
        info.append(('customer', d['customer']))
    return info + [('tls', 'TLSv1.3'), ('proto', proto)]


def forged(inst, sink):
    q = connect_as('relaysmtpd', inst.path('run/queue.sock'))
    rep = inject(q, [('ip', '10.9.8.7'), ('helo', 'x'),
                     ('auth', 'ceo@example.com'), ('proto', 'ESMTPA')],
                 'ceo@example.com', ['victim@example.net'])
    check('forged frame as relaysmtpd: refused (100)',
          rep.get('status') == '100', rep)
    check('forged frame: nothing queued', inst.queue_count('new') == 0 and
          sink.wait_for(1, 2) is False, inst.log_tail())
    check('forged frame: relay-queue says why',
          inst.wait_log(r'relay-queue.*admission refused: no proof', 10))


def proofs(inst, sink):
    p = connect_as('relaysmtpd', inst.path('run/policy.sock'))
    q = connect_as('relaysmtpd', inst.path('run/queue.sock'))
    d = admitted(p, 'a@one.example', ['r1@example.org'])
    check('policy: DATA accepted with a proof and its provenance',
          d.get('action') == 'accept' and d.get('admit') and
          d.get('ip') == '127.0.0.1' and d.get('customer') == 'one', d)
    claim = inject(q, proof_info(d)[:1] + [('ip', '10.9.8.7')] +
                   proof_info(d)[2:], 'a@one.example', ['r1@example.org'])
    check('the proof with a claimed ip it does not cover: refused',
          claim.get('status') == '100', claim)
    claim = inject(q, proof_info(d) + [('auth', 'ceo@example.com')],
                   'a@one.example', ['r1@example.org'])
    check('the proof with a claimed AUTH identity: refused',
          claim.get('status') == '100', claim)
    claim = inject(q, proof_info(d) + [('null_sender', 'yes')],
                   'a@one.example', ['r1@example.org'])
    check('the proof with a claimed null_sender (a bounce): refused',
          claim.get('status') == '100', claim)
    other = inject(q, proof_info(d), 'a@one.example', ['r2@example.org'])
    check('the proof for other recipients: refused',
          other.get('status') == '100', other)
    other = inject(q, proof_info(d), 'b@one.example', ['r1@example.org'])
    check('the proof for another sender: refused',
          other.get('status') == '100', other)
    good = inject(q, proof_info(d, proto='ESMTPSA'), 'a@one.example',
                  ['r1@example.org'])
    check('the proof for its own transaction: queued with a receipt',
          good.get('status') == '0' and len(good.get('receipt', '')) == 64,
          good)
    again = inject(q, proof_info(d), 'a@one.example', ['r1@example.org'])
    check('the same proof again (replay): refused',
          again.get('status') == '100' and 'used' in again.get('text', ''),
          again)
    check('only the admitted message arrives', sink.wait_for(1, 30) and
          not sink.wait_for(2, 2), sink.messages)
    data = sink.messages[0].data if sink.messages else b''
    if isinstance(data, str):
        data = data.encode()
    check('Received: policy\'s HELO and IP, ESMTPS (no AUTH: not ESMTPSA)',
          re.search(rb'Received: from good\.example \(\[127\.0\.0\.1\]\)'
                    rb'\r\n\tby relaybox\.test \(relaybox\) with ESMTPS ',
                    data), data[:300])
    check('relay-queue\'s log: policy\'s ip, no auth, admitted by policy',
          inst.wait_log(r'relay-queue.*from=<a@one\.example> nrcpt=1 .*'
                        r'ip=127\.0\.0\.1 auth=- admitted=policy', 10))
    return p, good


def early_proof(inst):
    """An accepted RCPT's reply carries DATA's proof, for the recipients
    accepted so far (relay-smtpd then asks nothing at DATA): relay-queue
    takes the message with the last one, and then none of the others
    (one number a transaction); a refused RCPT brings none."""
    p = connect_as('relaysmtpd', inst.path('run/policy.sock'))
    q = connect_as('relaysmtpd', inst.path('run/queue.sock'))
    session(p)
    ask(p, 'mail', **{'from': 'a@one.example', 'size': '100'})
    d1 = ask(p, 'rcpt', rcpt='e1@example.org')
    d2 = ask(p, 'rcpt', rcpt='e2@example.org')
    bad = ask(p, 'rcpt', rcpt='x%y@example.org')
    check('policy: an accepted RCPT brings a proof and its provenance',
          d1.get('admit') and d2.get('admit') and
          d1.get('admit') != d2.get('admit') and
          d2.get('ip') == '127.0.0.1' and d2.get('customer') == 'one',
          (d1, d2))
    check('policy: a refused RCPT brings none',
          bad.get('action') == 'reject' and not bad.get('admit'), bad)
    first = inject(q, proof_info(d1), 'a@one.example',
                   ['e1@example.org', 'e2@example.org'])
    check('the first RCPT\'s proof does not cover the second recipient',
          first.get('status') == '100', first)
    good = inject(q, proof_info(d2), 'a@one.example',
                  ['e1@example.org', 'e2@example.org'])
    check('the last RCPT\'s proof: queued with a receipt',
          good.get('status') == '0' and len(good.get('receipt', '')) == 64,
          good)
    again = inject(q, proof_info(d1), 'a@one.example', ['e1@example.org'])
    check('the transaction\'s proofs share one number: the first, for '
          'its own recipient, is used up with the last',
          again.get('status') == '100' and 'used' in again.get('text', ''),
          again)


def client_ip(inst):
    p = connect_as('relaysmtpd', inst.path('run/policy.sock'))
    session(p, client_ip='127.0.0.2', claim='127.0.0.1')
    m = ask(p, 'mail', **{'from': 'a@one.example', 'size': '10'})
    check('a claimed client address other than the kernel\'s is not '
          'believed (127.0.0.2 is not trusted)', m.get('action') == 'reject'
          and '[127.0.0.2]' in m.get('text', ''), m)
    check('relay-policy logs the claim and the kernel\'s answer',
          inst.wait_log(r'relay-policy.*claimed 127\.0\.0\.1, the kernel says '
                        r'127\.0\.0\.2', 10))
    session(p, claim='127.0.0.1', attach='none')
    m = ask(p, 'mail', **{'from': 'a@one.example', 'size': '10'})
    check('connect without the client\'s socket: no address, no IP trust',
          m.get('action') == 'reject', m)
    session(p, claim='127.0.0.1', attach='client')
    m = ask(p, 'mail', **{'from': 'a@one.example', 'size': '10'})
    check('a socket not accepted on a listener (relay-smtpd connecting out '
          'to the address it wants): not believed',
          m.get('action') == 'reject', m)
    check('relay-policy says why', inst.wait_log(
        r'relay-policy.*client socket: local end 127\.0\.0\.1 port \d+ is '
        r'none of our listeners', 10))
    session(p, claim='10.9.8.7')
    ask(p, 'mail', **{'from': 'a@one.example', 'size': '10'})
    ask(p, 'rcpt', rcpt='ip@example.org')
    d = ask(p, 'data')
    check('a claimed 10.9.8.7 on a connection from 127.0.0.1: the proof '
          'says 127.0.0.1', d.get('action') == 'accept' and
          d.get('ip') == '127.0.0.1', d)
    p.close()


def stats(inst):
    return inst.relayctl('stats', '--customer', 'one').stdout


def counted(inst, n):
    return wait_until(lambda: 'rcpts_10m=%d/' % n in stats(inst), 5)


def commits(inst, p, good):
    ask(p, 'commit', qid=good.get('id', ''), receipt=good.get('receipt', ''))
    check('the commit with relay-queue\'s receipt counts', counted(inst, 1),
          stats(inst))
    ask(p, 'commit', qid=good.get('id', ''), receipt=good.get('receipt', ''))
    for rcpts in (['c1@example.org', 'c2@example.org'], ['c3@example.org']):
        admitted(p, 'a@one.example', rcpts)
        ask(p, 'commit', qid='FAKE', rcpt=rcpts[0])
    admitted(p, 'a@one.example', ['c4@example.org'])
    ask(p, 'commit', qid='FAKE', receipt='0' * 64)
    admitted(p, 'a@one.example', ['c5@example.org'])
    ask(p, 'commit', qid=good.get('id', ''), receipt=good.get('receipt', ''))
    check('fake commits (the receipt again, none, a made-up one, an old one '
          'for a new transaction) cost no quota',
          not counted(inst, 2) and 'rcpts_10m=1/' in stats(inst), stats(inst))
    check('relay-policy logs the refused commit',
          inst.wait_log(r'relay-policy.*FAKE: commit without relay-queue', 10))
    with smtp_session(inst.port) as c:
        c.sendmail('a@one.example', ['real@example.org'], MSG)
    check('a real message is counted', counted(inst, 2), stats(inst))


def main():
    if not is_root():
        skip('queue admission', 'needs root (relay-smtpd under its own uid)')
        return finish()
    with Sink() as sink, Instance(sink=sink, rules_text=RULES) as inst:
        forged(inst, sink)
        p, good = proofs(inst, sink)
        commits(inst, p, good)
        client_ip(inst)
        early_proof(inst)
    finish()


if __name__ == '__main__':
    main()
