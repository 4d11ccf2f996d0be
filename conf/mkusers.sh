#!/bin/sh
# mkusers.sh: create relaybox's system users and the queue group, once.
# Idempotent: existing users and groups are left alone, missing group
# memberships are added.  Run as root (make install and make run call it).
#   relaysmtpd   relay-listen, relay-smtpd
#   relaypolicy  relay-policy
#   relayqueue   relay-queue      \
#   relaysend    relay-send        } members of group relayq (queue files)
#   relayremote  relay-remote     /
set -eu

if [ "$(id -u)" -ne 0 ]; then
	echo "mkusers.sh: must run as root" >&2
	exit 100
fi
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false
qgroup=relayq

getent group "$qgroup" >/dev/null || groupadd --system "$qgroup"
for u in relaysmtpd relaypolicy relayqueue relaysend relayremote; do
	if ! getent passwd "$u" >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell "$nologin" --user-group "$u"
	fi
done
for u in relayqueue relaysend relayremote; do
	if ! id -nG "$u" | tr ' ' '\n' | grep -qx "$qgroup"; then
		usermod -a -G "$qgroup" "$u"
	fi
done
echo "mkusers.sh: users relaysmtpd relaypolicy relayqueue relaysend relayremote, group $qgroup: ok"
