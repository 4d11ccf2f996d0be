#!/usr/bin/python3
"""dsnsink.py: sink.py's receiver offering DSN (RFC 3461), for the tests
of what relay-remote passes on to a next hop that has it.

    from dsnsink import DsnSink
    with DsnSink() as s:          # as Sink, and its EHLO offers DSN
        ...
        m = s.messages[0]
        m.dsn['mail']             # {'RET': 'HDRS', 'ENVID': 'x+2By'}
        m.dsn['rcpt']['b@example.org']   # {'NOTIFY': ..., 'ORCPT': ...}

aiosmtpd itself knows no DSN (it answers 555 to its parameters): the
SMTP subclass takes RET, ENVID, NOTIFY and ORCPT off the command, as
sent (case kept), records them, and hands the rest to aiosmtpd."""
from aiosmtpd.smtp import SMTP

from sink import Sink, _Controller, _Handler


def _take(arg, keys):
    """arg without the parameters named in keys, and those as a dict."""
    kept, taken = [], {}
    for i, tok in enumerate(arg.split(' ')):
        key, eq, value = tok.partition('=')
        if i > 0 and eq and key.upper() in keys:
            taken[key.upper()] = value
        else:
            kept.append(tok)
    return ' '.join(kept), taken


class _DsnSMTP(SMTP):
    async def smtp_MAIL(self, arg):
        rest, params = _take(arg or '', ('RET', 'ENVID'))
        await super().smtp_MAIL(rest if arg is not None else None)
        if self.envelope.mail_from is not None:
            self.envelope.dsn = {'mail': params, 'rcpt': {}}

    async def smtp_RCPT(self, arg):
        rest, params = _take(arg or '', ('NOTIFY', 'ORCPT'))
        before = len(self.envelope.rcpt_tos)
        await super().smtp_RCPT(rest if arg is not None else None)
        dsn = getattr(self.envelope, 'dsn', None)
        if dsn is not None and len(self.envelope.rcpt_tos) > before:
            dsn['rcpt'][self.envelope.rcpt_tos[-1]] = params


class _DsnHandler(_Handler):
    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        return responses[:1] + ['250-DSN'] + responses[1:]


class _DsnController(_Controller):
    def factory(self):
        with self.sink.lock:
            self.sink.connections += 1
        return _DsnSMTP(self.handler, **self.SMTP_kwargs)


class DsnSink(Sink):
    handler_class = _DsnHandler
    controller_class = _DsnController
