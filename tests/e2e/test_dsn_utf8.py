#!/usr/bin/python3
"""test_dsn_utf8.py: internationalised notices (RFC 6533), end to end.
A message taken under SMTPUTF8 whose recipient the next hop refuses
(550) bounces; Python's email package reads the bounce:
  - a UTF-8 recipient, UTF-8 headers, RET=FULL: multipart/report;
    report-type=global-delivery-status, a text/plain part in utf-8, the
    message/global-delivery-status part with "Final-Recipient: utf-8;
    <the address as UTF-8>", the message returned as message/global; the
    notice leaves with SMTPUTF8 in its MAIL FROM; a recipient with a
    bidi control (U+202E) stands exact in the status part and with "?"
    for it in the human part;
  - a UTF-8 recipient on an otherwise ASCII message (ASCII headers, no
    RET): the same report, its header block as message/global-headers;
  - an ASCII message under SMTPUTF8: the notice of today
    (report-type=delivery-status, message/delivery-status,
    "rfc822;"), without SMTPUTF8;
  - a UTF-8 sender and a next hop without SMTPUTF8: the message fails
    (5.6.7), so does its notice to the sender (5.6.7); the notice of
    that goes to relay.conf's postmaster (an ASCII address, so without
    SMTPUTF8), and nothing goes after it (no bounce of a bounce);
  - RCPT ... ORCPT=utf-8;<the address as UTF-8> (RFC 6533 3.3) under
    SMTPUTF8 is taken (250) and kept in its ASCII form, which the
    bounce's Original-Recipient shows ("utf-8;j\\x{F6}rg@..."); without
    SMTPUTF8 it is refused 553 5.6.7, bytes that are no UTF-8 501."""
import email
import email.parser
import email.policy
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, check, finish, wait_until  # noqa: E402
from test_delivery_smtputf8 import NextHop  # noqa: E402

SENDER = 'sender@example.com'
JOERG = 'j\u00f6rg@b\u00fccher.example'
BIDI = 'ab\u202ecd@example.org'
PM = 'pm@example.net'


def send(port, sender, rcpts, data, mail_opts=b''):
    """One SMTPUTF8 transaction; the codes of MAIL, each RCPT, the end."""
    c = Raw(port)
    try:
        c.reply()
        c.cmd(b'EHLO client.test\r\n')
        codes = [c.cmd(b'MAIL FROM:<' + sender.encode() +
                       b'> BODY=8BITMIME SMTPUTF8' + mail_opts +
                       b'\r\n')[0]]
        for r in rcpts:
            codes.append(c.cmd(b'RCPT TO:<' + r.encode() + b'>\r\n')[0])
        c.cmd(b'DATA\r\n')
        codes.append(c.cmd(data + b'.\r\n')[0])
        c.cmd(b'QUIT\r\n')
        return codes
    finally:
        c.close()


def notices(hop, to):
    return [t for t in list(hop.txns) if t['data'] is not None and
            t['mail'].startswith(b'MAIL FROM:<>') and to in t['rcpts']]


def raw_parts(data, boundary):
    """The notice's parts as bytes (headers and body), in order."""
    sep = b'\r\n--' + boundary.encode()
    return [p.split(b'\r\n', 1)[1] for p in data.split(sep)[1:-1]]


def fields(part):
    """The per-message and per-recipient field blocks of a status part,
    each a dict (header names as written)."""
    body = part.split(b'\r\n\r\n', 1)[1]
    parser = email.parser.BytesHeaderParser(policy=email.policy.SMTPUTF8)
    blocks = [b for b in body.split(b'\r\n\r\n') if b.strip()]
    return [dict(parser.parsebytes(b + b'\r\n\r\n').items())
            for b in blocks]


def report(t):
    """(message, [part content types], [raw parts], [field blocks])"""
    msg = email.message_from_bytes(t['data'], policy=email.policy.SMTPUTF8)
    parts = list(msg.iter_parts())
    raw = raw_parts(t['data'], msg.get_boundary())
    status = [r for p, r in zip(parts, raw) if 'delivery-status' in
              p.get_content_type()]
    return (msg, [p.get_content_type() for p in parts], raw,
            fields(status[0]) if status else [])


def final_recipients(blocks):
    return sorted(b.get('Final-Recipient', '') for b in blocks[1:])


def check_global(name, t, third, want):
    msg, types, raw, blocks = report(t)
    check('%s: report-type=global-delivery-status' % name,
          msg.get_content_type() == 'multipart/report' and
          msg.get_param('report-type') == 'global-delivery-status',
          msg.get('Content-Type'))
    check('%s: text/plain, message/global-delivery-status, %s' % (
          name, third), types == ['text/plain',
                                  'message/global-delivery-status', third],
          repr(types))
    check('%s: the human part declares utf-8' % name,
          msg.get_payload()[0].get_content_charset() == 'utf-8',
          raw[0][:200] if raw else t['data'][:400])
    check('%s: Final-Recipient utf-8; the address as UTF-8' % name,
          final_recipients(blocks) == sorted(want), repr(blocks))
    check('%s: the notice leaves with SMTPUTF8' % name,
          t['mail'].endswith(b' SMTPUTF8'), t['mail'])
    return msg, raw


def utf8_recipient(hop, inst):
    hop.refuse = {JOERG, BIDI, 'gone@example.org'}
    data = ('From: sender@example.com\r\nTo: ' + JOERG + '\r\n'
            'Subject: Gr\u00fc\u00dfe\r\n\r\nthe body that RET=FULL '
            'returns\r\n').encode()
    check('utf-8 recipients: taken',
          send(inst.port, SENDER, [JOERG, BIDI], data, b' RET=FULL') ==
          [250, 250, 250, 250])
    check('utf-8 recipients: a bounce arrives',
          wait_until(lambda: notices(hop, SENDER), 30), inst.log_tail())
    for t in notices(hop, SENDER)[:1]:
        msg, raw = check_global(
            'utf-8 recipients', t, 'message/global',
            ['utf-8; ' + JOERG, 'utf-8; ' + BIDI])
        check('utf-8 recipients: the message returned whole',
              b'the body that RET=FULL returns' in t['data'], t['data'])
        human = raw[0] if raw else b''
        check('utf-8 recipients: the human part shows the address, a '
              'bidi control as "?"',
              ('<' + JOERG + '>').encode() in human and
              b'<ab?cd@example.org>' in human and
              '\u202e'.encode() not in human, human)

    n = len(notices(hop, SENDER))
    data = (b'From: sender@example.com\r\nTo: x@example.org\r\n'
            b'Subject: plain\r\n\r\nascii only\r\n')
    send(inst.port, SENDER, [JOERG], data)
    check('ascii message, utf-8 recipient: a bounce arrives',
          wait_until(lambda: len(notices(hop, SENDER)) > n, 30),
          inst.log_tail())
    for t in notices(hop, SENDER)[n:n + 1]:
        check_global('ascii message, utf-8 recipient', t,
                     'message/global-headers', ['utf-8; ' + JOERG])

    n = len(notices(hop, SENDER))
    send(inst.port, SENDER, ['gone@example.org'], data)
    check('ascii smtputf8 message: a bounce arrives',
          wait_until(lambda: len(notices(hop, SENDER)) > n, 30),
          inst.log_tail())
    for t in notices(hop, SENDER)[n:n + 1]:
        msg, types, raw, blocks = report(t)
        check('ascii smtputf8 message: the notice of an ASCII message',
              msg.get_param('report-type') == 'delivery-status' and
              types == ['text/plain', 'message/delivery-status',
                        'text/rfc822-headers'] and
              msg.get_payload()[0].get_content_charset() == 'us-ascii' and
              final_recipients(blocks) == ['rfc822; gone@example.org'] and
              b'SMTPUTF8' not in t['mail'], t['data'])


def utf8_sender(hop, inst):
    """A next hop without SMTPUTF8 takes neither the message of a UTF-8
    sender nor the notice to it."""
    sender = 'jos\u00e9@example.com'
    hop.utf8 = False
    send(inst.port, sender, ['b@example.org'],
         b'Subject: from a utf-8 sender\r\n\r\nhello\r\n')
    check('utf-8 sender: the notice of the failed notice reaches the '
          'postmaster', wait_until(lambda: notices(hop, PM), 60),
          inst.log_tail())
    time.sleep(4)  # room for a notice too many
    sent = [t for t in hop.txns if t['data'] is not None]
    check('utf-8 sender: nothing reached the sender or the recipient',
          not [t for t in sent if sender in t['rcpts'] or
               'b@example.org' in t['rcpts']], repr(sent))
    check('utf-8 sender: one notice, to the postmaster',
          len(notices(hop, PM)) == 1 and len(sent) == 1, repr(sent))
    for t in notices(hop, PM)[:1]:
        msg, types, raw, blocks = report(t)
        check('utf-8 sender: global, Final-Recipient utf-8; the sender, '
              'no SMTPUTF8 asked of a hop without it',
              msg.get_param('report-type') == 'global-delivery-status' and
              final_recipients(blocks) == ['utf-8; ' + sender] and
              b'SMTPUTF8' not in t['mail'], t['data'])
        check('utf-8 sender: the failure said 5.6.7',
              [b.get('Status') for b in blocks[1:]] == ['5.6.7'],
              repr(blocks))


def rcpt_code(port, mail, rcpt):
    """The reply code to rcpt (bytes) after mail (bytes)."""
    c = Raw(port)
    try:
        c.reply()
        c.cmd(b'EHLO client.test\r\n')
        c.cmd(mail + b'\r\n')
        code = c.cmd(rcpt + b'\r\n')[0]
        c.cmd(b'QUIT\r\n')
        return code
    finally:
        c.close()


def utf8_orcpt(hop, inst):
    hop.utf8 = True
    hop.refuse = {JOERG}
    orcpt = b' ORCPT=utf-8;' + JOERG.encode()
    rcpt = b'RCPT TO:<' + JOERG.encode() + b'>' + orcpt
    mail = b'MAIL FROM:<' + SENDER.encode() + b'>'
    codes = [rcpt_code(inst.port, mail + b' SMTPUTF8', rcpt),
             rcpt_code(inst.port, mail, b'RCPT TO:<b@example.org>' + orcpt),
             rcpt_code(inst.port, mail + b' SMTPUTF8',
                       b'RCPT TO:<b@example.org> ORCPT=utf-8;j\xf6rg@x')]
    check('ORCPT in UTF-8: 250 under SMTPUTF8, 553 without, 501 for '
          'bytes that are no UTF-8 (%r)' % codes, codes == [250, 553, 501])
    c = Raw(inst.port)
    try:
        c.reply()
        c.cmd(b'EHLO client.test\r\n')
        c.cmd(mail + b' SMTPUTF8\r\n')
        c.cmd(rcpt + b'\r\n')
        c.cmd(b'DATA\r\n')
        c.cmd(b'Subject: orcpt\r\n\r\nhello\r\n.\r\n')
        c.cmd(b'QUIT\r\n')
    finally:
        c.close()
    check('ORCPT in UTF-8: a bounce arrives',
          wait_until(lambda: notices(hop, SENDER), 30), inst.log_tail())
    for t in notices(hop, SENDER)[:1]:
        blocks = report(t)[3]
        want = 'utf-8;j\\x{F6}rg@b\\x{FC}cher.example'
        check('ORCPT in UTF-8: Original-Recipient in its ASCII form',
              [b.get('Original-Recipient') for b in blocks[1:]] == [want],
              repr(blocks))


def main():
    hop = NextHop()
    try:
        with Instance(sink=hop, conf_overrides={
                'conn_cache_max': 0, 'retry_min': 1,
                'postmaster': PM}) as inst:
            utf8_recipient(hop, inst)
            hop.txns.clear()
            utf8_sender(hop, inst)
            hop.txns.clear()
            utf8_orcpt(hop, inst)
    finally:
        hop.close()


if __name__ == '__main__':
    main()
    finish()
