"""chaos_archive.py: the archive copy in the chaos run (chaos.py): the
customer's rules with archive=, and the copies told apart from the
messages and DSNs (both from <>) and checked: each must name its
message's sender and recipient and wrap the message itself."""
import os

from harness import DEFAULT_RULES

ARCHIVE = 'journal@archive.test'    # the customer's archive=, by default


def rules(archive):
    """The harness's rules, the customer archiving to archive (None:
    not archiving)."""
    if not archive:
        return DEFAULT_RULES
    return DEFAULT_RULES.replace('customer example licenses=1000 paid=yes',
                                 'customer example licenses=1000 paid=yes '
                                 'archive=' + archive)


def is_copy(m, archive):
    """An archive copy (a journal report to the archive address)."""
    return bool(archive) and m.rcpts == [archive]


def copy_data(inst, sink, archive):
    """The archive copies' bytes: the messages the sink got for the
    archive address (sender <> checked), or the files of the customer's
    maildir (archive=maildir)."""
    if archive == 'maildir':
        d = inst.path('archive/example/new')
        out = []
        for name in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), 'rb') as f:
                out.append((f.read(), True))
        return out
    with sink.lock:
        return [(m.data, m.mail_from in ('', '<>')) for m in sink.messages
                if is_copy(m, archive)]


def archived(inst, sink, archive, serial_of, rcpt_of):
    """(serial -> copies arrived, copies whose envelope does not name
    the serial's sender and recipient): a copy wraps the message, its
    X-Chaos-Serial included, after the envelope part.  serial_of(data):
    the serial a message carries (or None); rcpt_of(serial): its
    recipient."""
    copies, bad = {}, []
    if not archive:
        return copies, bad
    for data, from_ok in copy_data(inst, sink, archive):
        s = serial_of(data)
        if s is None:
            bad.append(data[:300])
            continue
        copies[s] = copies.get(s, 0) + 1
        env = data.decode(errors='replace')
        if ('\r\nfrom: <chaos@example.com>\r\n' not in env or
                '\r\nrcpt: <%s>\r\n' % rcpt_of(s) not in env or not from_ok):
            bad.append(data[:300])
    return copies, bad
