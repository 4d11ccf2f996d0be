#!/usr/bin/python3
"""test_dsn.py: DSN (RFC 3461-3464) end to end, with Python's smtplib as
the client (MAIL ... RET= ENVID=, RCPT ... NOTIFY= ORCPT=):
  - relay-smtpd offers DSN and refuses bad parameters (501, 555);
  - to a next hop without DSN (aiosmtpd): one message, a recipient per
    NOTIFY value, failed (550) and relayed (250) ones: exactly one
    "relayed" notice listing the recipients that asked SUCCESS, exactly
    one failure notice listing those that asked FAILURE or nothing;
    NEVER, SUCCESS and DELAY alone get no failure notice; RET=FULL puts
    the whole message (message/rfc822) in the failure notice, the
    success notice has its headers only, and so has the failure notice
    of a message without RET (nor ENVID nor ORCPT fields then), and of
    one whose notice would not fit under message_size_max (with 8 KiB
    for what relay-queue adds);
  - delays (451 forever): one warning listing the recipients that asked
    DELAY or nothing, RET=HDRS: headers only;
  - to a next hop with DSN (dsnsink.py): RET, ENVID, NOTIFY and ORCPT
    arrive as the client sent them, with DATA and with BDAT, and relaybox
    sends no success notice of its own;
  - real clients: Debian's msmtp (--dsn-notify, --dsn-return) and
    Postfix 3.7 as an MTA relaying through relaybox (sendmail -N -R -V;
    it adds ORCPT itself) reach a DSN hop with their parameters;
  - every notice parses with Python's email package as multipart/report;
    report-type=delivery-status, with Original-Envelope-Id (decoded),
    Original-Recipient (decoded), Final-Recipient, Action, Status,
    Remote-MTA and Diagnostic-Code."""
import email
import email.policy
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, skip,  # noqa: E402
                     wait_until)
from dsnsink import DsnSink  # noqa: E402
import test_postfix_client  # noqa: E402

SENDER = 'sender@example.com'
BODY = (b'From: sender@example.com\r\nTo: x@example.org\r\n'
        b'Subject: dsn test\r\nMessage-ID: <dsn-test@example.com>\r\n\r\n'
        b'the body line that only RET=FULL returns\r\n')
NOTIFY = {'default': None, 'never': 'NEVER', 'success': 'SUCCESS',
          'failure': 'FAILURE', 'delay': 'DELAY', 'sf': 'SUCCESS,FAILURE',
          'all': 'SUCCESS,FAILURE,DELAY'}


def send(port, mail_opts, rcpts):
    """One transaction; rcpts: [(address, [options])]; the RCPT replies."""
    replies = []
    with smtplib.SMTP('127.0.0.1', port, timeout=30) as s:
        s.ehlo('client.test')
        code, text = s.mail(SENDER, mail_opts)
        if code != 250:
            return [(code, text)]
        for addr, opts in rcpts:
            replies.append(s.rcpt(addr, opts))
        s.data(BODY)
    return replies


def rcpt_opts(name):
    n = NOTIFY[name]
    opts = ['NOTIFY=' + n] if n else []
    return opts + ['ORCPT=rfc822;%s+2Borig@example.org' % name]


def notices(sink):
    with sink.lock:
        return [m for m in sink.messages if m.mail_from in ('', '<>')]


def parse(m):
    """(message, per-message fields, [per-recipient fields], third part)"""
    msg = email.message_from_bytes(m.data, policy=email.policy.default)
    blocks, parts = [], list(msg.iter_parts())
    for part in parts:
        if part.get_content_type() == 'message/delivery-status':
            blocks = [dict(b.items()) for b in part.get_payload()]
    return (msg, blocks[0] if blocks else {}, blocks[1:],
            parts[2] if len(parts) == 3 else None)


def of_action(sink, action):
    return [m for m in notices(sink)
            if parse(m)[2] and parse(m)[2][0].get('Action') == action]


def check_notice(name, m, action, want):
    msg, per_msg, per_rcpt, third = parse(m)
    check('%s: multipart/report; report-type=delivery-status' % name,
          msg.get_content_type() == 'multipart/report' and
          msg.get_param('report-type') == 'delivery-status' and
          len(list(msg.iter_parts())) == 3, msg.get('Content-Type'))
    check('%s: to the sender' % name, m.rcpts == [SENDER], repr(m.rcpts))
    check('%s: Original-Envelope-Id decoded' % name,
          per_msg.get('Original-Envelope-Id') == 'env+1', repr(per_msg))
    got = sorted(r.get('Final-Recipient', '') for r in per_rcpt)
    check('%s: exactly %s' % (name, want),
          got == sorted('rfc822; %s' % a for a in want), repr(got))
    for r in per_rcpt:
        local = r.get('Final-Recipient', '').split('; ')[-1].split('@')[0]
        check('%s %s: Action %s, Original-Recipient decoded' % (
              name, local, action),
              r.get('Action') == action and
              r.get('Original-Recipient') ==
              'rfc822;%s+orig@example.org' % local.split('-')[-1],
              repr(r))
        check('%s %s: Status, Remote-MTA, Diagnostic-Code' % (name, local),
              r.get('Status', '')[:1] in '245' and r.get('Remote-MTA') and
              r.get('Diagnostic-Code', '').startswith('smtp; '), repr(r))
        check('%s %s: Remote-MTA is the host name (RFC 3464 2.3.5), its '
              'address and port apart' % (name, local),
              r.get('Remote-MTA') == 'dns; 127.0.0.1' and
              r.get('X-Relaybox-Remote-Address', '').startswith(
                  '[127.0.0.1]:'), repr(r))
    return third


def no_hop_dsn():
    names = list(NOTIFY)
    codes = {'f-%s@example.org' % n: 550 for n in names}
    codes.update({'d-%s@example.org' % n: 451 for n in names})
    codes['g-plain@example.org'] = 550
    with Sink(codes=codes) as sink, Instance(sink=sink, conf_overrides={
            'delay_warning': 4, 'retry_min': 1}) as inst:
        with smtplib.SMTP('127.0.0.1', inst.port, timeout=30) as s:
            code, text = s.ehlo('client.test')
            check('EHLO offers DSN', b'\nDSN' in text, text)
            for cmd, want in (
                    ('MAIL FROM:<%s> RET=ALL' % SENDER, 501),
                    ('MAIL FROM:<%s> ENVID=a+zz' % SENDER, 501),
                    ('MAIL FROM:<%s> RET=FULL RET=HDRS' % SENDER, 501),
                    ('MAIL FROM:<%s> RET=FULL ENVID=x' % SENDER, 250),
                    ('RCPT TO:<a@example.org> NOTIFY=NEVER,DELAY', 501),
                    ('RCPT TO:<a@example.org> ORCPT=a@example.org', 501),
                    ('RCPT TO:<a@example.org> NOTIFY=DELAY NOTIFY=DELAY',
                     501),
                    ('RCPT TO:<a@example.org> FOO=1', 555),
                    ('RCPT TO:<a@example.org> NOTIFY=success '
                     'ORCPT=rfc822;a@example.org', 250)):
                got = s.docmd(cmd)
                check('%s -> %d' % (cmd, want), got[0] == want, repr(got))
            s.rset()

        mail = ['RET=FULL', 'ENVID=env+2B1']
        rcpts = [('%s-%s@example.org' % (k, n), rcpt_opts(n))
                 for k in 'fs' for n in names]
        replies = send(inst.port, mail, rcpts)
        check('failures and successes: every RCPT accepted (the next '
              'hop refuses the f- ones)',
              [r[0] for r in replies] == [250] * 14, replies)
        send(inst.port, ['RET=HDRS', 'ENVID=env+2B1'],
             [('d-%s@example.org' % n, rcpt_opts(n)) for n in names])
        send(inst.port, [], [('g-plain@example.org', [])])

        wait_until(lambda: of_action(sink, 'relayed') and
                   of_action(sink, 'failed') and
                   of_action(sink, 'delayed'), 30)
        time.sleep(3)   # room for a notice too many
        relayed = of_action(sink, 'relayed')
        check('one success notice', len(relayed) == 1, inst.log_tail())
        if relayed:
            third = check_notice('relayed', relayed[0], 'relayed',
                                 ['s-success@example.org',
                                  's-sf@example.org', 's-all@example.org'])
            check('relayed: headers only (RET=FULL is for failures)',
                  third is not None and
                  third.get_content_type() == 'text/rfc822-headers' and
                  b'only RET=FULL' not in relayed[0].data, relayed[0].data)
        wait_until(lambda: len(of_action(sink, 'failed')) == 2, 10)
        failed = [m for m in of_action(sink, 'failed')
                  if 'g-plain@' not in parse(m)[2][0]['Final-Recipient']]
        plain = [m for m in of_action(sink, 'failed') if m not in failed]
        check('one failure notice per message', len(failed) == 1 and
              len(plain) == 1, inst.log_tail())
        if plain:
            msg, per_msg, per_rcpt, third = parse(plain[0])
            check('no RET, no ENVID, no ORCPT: the header block, no '
                  'Original-Envelope-Id or Original-Recipient',
                  third is not None and
                  third.get_content_type() == 'text/rfc822-headers' and
                  b'only RET=FULL' not in plain[0].data and
                  'Original-Envelope-Id' not in per_msg and
                  [r.get('Original-Recipient') for r in per_rcpt] == [None],
                  plain[0].data)
        if failed:
            third = check_notice('failed', failed[0], 'failed',
                                 ['f-default@example.org',
                                  'f-failure@example.org',
                                  'f-sf@example.org', 'f-all@example.org'])
            check('failed: RET=FULL returns the whole message',
                  third is not None and
                  third.get_content_type() == 'message/rfc822' and
                  b'only RET=FULL returns' in failed[0].data,
                  failed[0].data)
        delayed = of_action(sink, 'delayed')
        check('one delay warning', len(delayed) == 1, inst.log_tail())
        if delayed:
            third = check_notice('delayed', delayed[0], 'delayed',
                                 ['d-default@example.org',
                                  'd-delay@example.org', 'd-all@example.org'])
            check('delayed: RET=HDRS, headers only',
                  third is not None and
                  third.get_content_type() == 'text/rfc822-headers',
                  delayed[0].data)
        check('no other notice', len(notices(sink)) == 4,
              repr(notices(sink)))


def hop_dsn():
    with DsnSink() as sink, Instance(sink=sink) as inst:
        replies = send(inst.port, ['RET=HDRS', 'ENVID=env+2B1'],
                       [('a@example.org', ['NOTIFY=SUCCESS,DELAY',
                                           'ORCPT=rfc822;A+2Bb@example.org']),
                        ('b@example.org', [])])
        check('DSN hop: accepted', [r[0] for r in replies] == [250, 250],
              replies)
        check('DSN hop: delivered', sink.wait_for(1, 30), inst.log_tail())
        time.sleep(2)
        with sink.lock:
            msgs = list(sink.messages)
        m = msgs[0] if msgs else None
        d = (m.dsn or {}) if m else {}
        check('DSN hop: MAIL RET and ENVID as sent',
              d.get('mail') == {'RET': 'HDRS', 'ENVID': 'env+2B1'}, repr(d))
        check('DSN hop: RCPT NOTIFY and ORCPT as sent',
              d.get('rcpt', {}).get('a@example.org') ==
              {'NOTIFY': 'SUCCESS,DELAY', 'ORCPT': 'rfc822;A+2Bb@example.org'},
              repr(d))
        check('DSN hop: none added for a recipient without them',
              d.get('rcpt', {}).get('b@example.org') == {}, repr(d))
        check('DSN hop: no success notice from relaybox (the hop owes it)',
              len(msgs) == 1, repr(msgs))
        # the same parameters with the message sent in a BDAT chunk
        with smtplib.SMTP('127.0.0.1', inst.port, timeout=30) as c:
            c.ehlo('client.test')
            c.docmd('MAIL FROM:<%s> RET=FULL ENVID=bdat1' % SENDER)
            c.docmd('RCPT TO:<c@example.org> NOTIFY=FAILURE '
                    'ORCPT=rfc822;c@example.org')
            c.send(b'BDAT %d LAST\r\n' % len(BODY) + BODY)
            got = c.getreply()
        check('BDAT: queued', got[0] == 250, repr(got))
        check('BDAT: delivered', sink.wait_for(2, 30), inst.log_tail())
        with sink.lock:
            d = (sink.messages[-1].dsn or {}) if len(sink.messages) > 1 \
                else {}
        check('BDAT: the DSN parameters reach the DSN hop',
              d.get('mail') == {'RET': 'FULL', 'ENVID': 'bdat1'} and
              d.get('rcpt', {}).get('c@example.org') ==
              {'NOTIFY': 'FAILURE', 'ORCPT': 'rfc822;c@example.org'},
              repr(d))


def msmtp_client():
    """A real client: Debian's msmtp asks for DSN with --dsn-notify and
    --dsn-return (it sends no ENVID or ORCPT); they reach a DSN hop."""
    if not shutil.which('msmtp'):
        skip('msmtp DSN', 'no msmtp')
        return
    with DsnSink() as sink, Instance(sink=sink) as inst:
        tmp = tempfile.mkdtemp(prefix='relaybox-dsn-')
        rc = os.path.join(tmp, 'msmtprc')
        with open(rc, 'w') as f:
            f.write('defaults\n')
        os.chmod(rc, 0o600)
        try:
            r = subprocess.run(
                ['msmtp', '-C', rc, '--host=127.0.0.1',
                 '--port=%d' % inst.port, '--auth=off', '--tls=off',
                 '--domain=client.test', '--from=' + SENDER,
                 '--dsn-notify=success,delay', '--dsn-return=hdrs', '--',
                 'm@example.org'], input=BODY, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=60)
        finally:
            shutil.rmtree(tmp)
        check('msmtp: sent', r.returncode == 0, r.stdout)
        check('msmtp: delivered', sink.wait_for(1, 30), inst.log_tail())
        with sink.lock:
            d = (sink.messages[0].dsn or {}) if sink.messages else {}
        check('msmtp: RET=HDRS reaches the DSN hop',
              d.get('mail') == {'RET': 'HDRS'}, repr(d))
        check('msmtp: NOTIFY=SUCCESS,DELAY reaches the DSN hop',
              d.get('rcpt', {}).get('m@example.org') ==
              {'NOTIFY': 'SUCCESS,DELAY'}, repr(d))


def postfix_client():
    """A real MTA as the client: a private Postfix with relaybox as its
    relayhost, fed by its sendmail -N (NOTIFY), -R (RET) and -V (ENVID);
    Postfix adds ORCPT itself.  All four reach a DSN hop."""
    if os.geteuid() != 0 or not os.path.exists(test_postfix_client.POSTFIX):
        skip('Postfix DSN', 'needs root and Postfix')
        return
    with DsnSink() as sink, Instance(sink=sink) as inst:
        pf = test_postfix_client.PrivatePostfix(
            inst.port, '', 'unused',
            relay_cf='relayhost = [127.0.0.1]:{relay_port}\n')
        try:
            r = pf.start()
            check('Postfix: started', pf.started, r.stdout)
            r = subprocess.run(
                [test_postfix_client.SENDMAIL, '-C', pf.etc, '-f', SENDER,
                 '-N', 'success,delay', '-R', 'hdrs', '-V', 'pf+env', '-i',
                 'p@example.org'], input=BODY, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=60)
            check('Postfix: sendmail accepted', r.returncode == 0, r.stdout)
            check('Postfix: delivered through relaybox',
                  sink.wait_for(1, 60), pf.log()[-2000:] + inst.log_tail())
        finally:
            pf.stop()
            pf.remove()
        with sink.lock:
            d = (sink.messages[0].dsn or {}) if sink.messages else {}
        check('Postfix: RET and ENVID (xtext) reach the DSN hop',
              d.get('mail') == {'RET': 'HDRS', 'ENVID': 'pf+2Benv'}, repr(d))
        check('Postfix: NOTIFY and its own ORCPT reach the DSN hop',
              d.get('rcpt', {}).get('p@example.org') ==
              {'NOTIFY': 'SUCCESS,DELAY', 'ORCPT': 'rfc822;p@example.org'},
              repr(d))


def ret_full_limit():
    """RET=FULL returns the message only when the composed notice, with
    8 KiB for what relay-queue adds, stays under message_size_max; a
    bigger one's header block goes instead."""
    codes = {'small@example.org': 550, 'big@example.org': 550}
    with Sink(codes=codes) as sink, Instance(sink=sink, conf_overrides={
            'message_size_max': 72000}) as inst:
        for rcpt, lines in (('small@example.org', 1),
                            ('big@example.org', 940)):
            with smtplib.SMTP('127.0.0.1', inst.port, timeout=30) as s:
                s.sendmail(SENDER, [rcpt],
                           BODY + (b'x' * 70 + b'\r\n') * lines,
                           mail_options=['RET=FULL'])
        check('RET=FULL limit: two failure notices',
              wait_until(lambda: len(of_action(sink, 'failed')) == 2, 30),
              inst.log_tail())
        for m in of_action(sink, 'failed'):
            big = 'big@' in parse(m)[2][0]['Final-Recipient']
            third = parse(m)[3]
            want = 'text/rfc822-headers' if big else 'message/rfc822'
            check('RET=FULL, %s message: %s' % (
                  'a 68 KB' if big else 'a small', want),
                  third is not None and third.get_content_type() == want,
                  m.data[:2000])


def main():
    ret_full_limit()
    no_hop_dsn()
    hop_dsn()
    msmtp_client()
    postfix_client()
    finish()


if __name__ == '__main__':
    main()
