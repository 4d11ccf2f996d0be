#!/bin/sh
# mkusers.sh: create relaybox's system users and the queue group, once.
# Idempotent: existing users and groups are left alone, missing group
# memberships are added.  Run as root (make install and make run call it).
#   relaysmtpd   relay-listen, relay-smtpd
#   relaypolicy  relay-policy
#   relayqueue   relay-queue      \ members of group relayq (the queue)
#   relaysend    relay-send       /
#   relayremote  relay-remote     no access to the queue: relay-send hands
#                                 it each queue file as a descriptor
#   relaymetrics relay-metrics    its group reads the daemons' metrics/
# (the daemons set their groups themselves when they drop root; the
# membership is for an operator's look at /etc/group)
set -eu

if [ "$(id -u)" -ne 0 ]; then
	echo "mkusers.sh: must run as root" >&2
	exit 100
fi
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false
qgroup=relayq

getent group "$qgroup" >/dev/null || groupadd --system "$qgroup"
for u in relaysmtpd relaypolicy relayqueue relaysend relayremote relaymetrics; do
	if ! getent passwd "$u" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell "$nologin" --user-group "$u"
	fi
done
for u in relayqueue relaysend; do
	if ! id -nG "$u" | tr ' ' '\n' | grep -qx "$qgroup"; then
		usermod -a -G "$qgroup" "$u"
	fi
done
# older versions put relayremote in the queue group
if id -nG relayremote | tr ' ' '\n' | grep -qx "$qgroup"; then
	gpasswd -d relayremote "$qgroup" >/dev/null
fi
echo "mkusers.sh: users relaysmtpd relaypolicy relayqueue relaysend relayremote relaymetrics, group $qgroup: ok"
