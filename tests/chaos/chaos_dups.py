"""chaos_dups.py: which kill made each duplicate of a chaos run.

Delivery is at least once: a kill can cost a duplicate, never a loss, so
chaos.py counts duplicates and does not fail on them.  Their count is
still worth watching (more results lost per kill means more duplicates),
and this module says which daemon's death each one follows:

- "delivered twice" (one queue id arrived twice): the result of the
  first delivery was lost before relay-send recorded it.  Blamed on the
  kill of relay-send or relay-remote (its listener or a worker) nearest
  to the first arrival; lag_ms is that kill's time minus the arrival's
  (the sink stores the message just before its 250).  A worker killed
  a few ms after the arrival had the result on its way (inherent); a
  lag of hundreds of ms would mean a result sat somewhere unrecorded.
  A relay-send kill usually comes before the arrival: the worker goes
  on with the job under way, and its sockets stay open until the dying
  relay-send has exited (tens of ms under load), so the worker may
  also take a job queued behind (up to 4 a connection).
- "queued twice" (two queue ids): the client's 250 was lost, it sent
  the message again.  Blamed on the last kill of a daemon the session
  needs (not relay-send's or relay-remote's) before the client's first
  failed try of that message; lag_ms is the kill's time minus the
  failure's (the client sees the broken connection at once).

"none" means no kill was near: a duplicate the kills do not explain.
The killer's "relay-remote" is the listening parent: its workers live
on and report their results, so its kills cost none; "remote-worker"
is a worker (one per relay-send connection), whose job in progress is
lost with it.
"""

SEND_SIDE = ('relay-send', 'relay-remote', 'remote-worker')
NEAR = 3.0      # s: a kill further from the arrival explains nothing


def _times(msgs, serial_of, qid_of, skip):
    """serial -> [(arrival time, queue id)] in arrival order."""
    out = {}
    for m in msgs:
        if skip(m):
            continue
        s = serial_of(m.data)
        if s is not None:
            out.setdefault(s, []).append((m.time, qid_of(m.data)))
    for v in out.values():
        v.sort()
    return out


def _nearest(events, names, t, before_only=False):
    """(name, lag s) of the kill among names nearest to t (within NEAR),
    or ('none', None)."""
    best = None
    for k, name in events:
        if name not in names or abs(k - t) > NEAR:
            continue
        if before_only and k > t:
            continue
        if best is None or abs(k - t) < abs(best[1]):
            best = (name, k - t)
    return best or ('none', None)


def attribute(msgs, serial_of, qid_of, skip, events, failed):
    """A list of dicts, one per extra arrival: serial, qid, kind
    ('delivered' or 'queued'), blame (a daemon or 'none'), lag_ms,
    again_s (from the first arrival to this one).  events: (time, name)
    of each kill; failed: serial -> times of the client's failed tries."""
    receiving = set(name for _, name in events) - set(SEND_SIDE)
    out = []
    for serial, arr in sorted(_times(msgs, serial_of, qid_of, skip).items()):
        first = {}
        for t, qid in arr:
            if qid not in first:
                first[qid] = t
                if len(first) == 1:
                    continue
                kind, t0 = 'queued', min(first.values())
                tf = min(failed.get(serial, [t0]))
                who, lag = _nearest(events, receiving, tf, before_only=True)
            else:
                kind, t0 = 'delivered', first[qid]
                who, lag = _nearest(events, SEND_SIDE, t0)
            out.append(dict(serial=serial, qid=qid, kind=kind, blame=who,
                            lag_ms=None if lag is None else
                            round(lag * 1000), again_s=round(t - t0, 2)))
    return out


def summary(dups):
    """{'delivered twice': {daemon: n}, 'queued twice': {daemon: n}}."""
    out = {}
    for d in dups:
        k = '%s twice' % d['kind']
        out.setdefault(k, {})
        out[k][d['blame']] = out[k].get(d['blame'], 0) + 1
    return out


def per_kill(dups, kills):
    """{daemon: duplicates per kill of it}: runs kill each daemon a
    different number of times; this is what to compare between them."""
    n = {}
    for d in dups:
        n[d['blame']] = n.get(d['blame'], 0) + 1
    return {k: round(v / kills[k], 2) for k, v in sorted(n.items())
            if kills.get(k)}


def line(dups, kills):
    """The report in words: 'duplicates N: queued twice n (daemon n,
    ...), delivered twice n (...); per kill: daemon x, ...'."""
    parts = []
    for kind, by in sorted(summary(dups).items(), reverse=True):
        parts.append('%s %d (%s)' % (kind, sum(by.values()), ', '.join(
            '%s %d' % kv for kv in sorted(by.items(),
                                          key=lambda kv: (-kv[1], kv[0])))))
    rate = ', '.join('%s %.2f' % kv for kv in per_kill(dups, kills).items())
    return 'duplicates %d%s%s' % (len(dups), ': ' + ', '.join(parts)
                                  if parts else '',
                                  '; per kill: ' + rate if rate else '')
