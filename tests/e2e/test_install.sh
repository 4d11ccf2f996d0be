#!/bin/sh
# test_install.sh: make install's script into a temporary DESTDIR puts the
# programs, man pages, samples and the systemd unit in place, and a second
# run never overwrites the operator's relay.conf.
cd "$(dirname "$0")/../.." || exit 1
dest=$(mktemp -d "${TMPDIR:-/tmp}/relaybox-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT INT TERM
ok() { echo "PASS $1"; }
no() { echo "FAIL $1"; failed=1; }
check() { # name test-args...
	name=$1
	shift
	if "$@"; then ok "$name"; else no "$name"; fi
}
failed=0

out=$(sh conf/install.sh "$dest" /usr 2>&1)
check "install.sh exits 0" [ $? -eq 0 ]
for p in relay-master relayctl makecdb relay-listen relay-smtpd relay-policy \
	relay-queue relay-send relay-remote; do
	if [ -x "bin/$p" ]; then
		check "sbin/$p installed, executable" [ -x "$dest/usr/sbin/$p" ]
	fi
done
check "man8/relay-master.8 installed" [ -f "$dest/usr/share/man/man8/relay-master.8" ]
check "man8/relayctl.8 installed" [ -f "$dest/usr/share/man/man8/relayctl.8" ]
check "etc/relaybox/relay.conf from the sample" cmp -s conf/relay.conf.sample "$dest/etc/relaybox/relay.conf"
if [ -f conf/relay.rules.sample ]; then
	check "etc/relaybox/relay.rules from the sample, mode 640" \
		[ "$(stat -c %a "$dest/etc/relaybox/relay.rules")" = 640 ]
fi
check "relaybox.service names /usr/sbin/relay-master" \
	grep -q '^ExecStart=/usr/sbin/relay-master -d /etc/relaybox$' "$dest/etc/systemd/system/relaybox.service"
check "no users created for a DESTDIR install" sh -c "! echo \"\$1\" | grep -q mkusers" _ "$out"

echo "# operator's edit" >>"$dest/etc/relaybox/relay.conf"
sh conf/install.sh "$dest" /usr >/dev/null 2>&1
check "second install keeps the operator's relay.conf" grep -q "operator's edit" "$dest/etc/relaybox/relay.conf"

mkdir -p "$dest/inst" && cp conf/relay.conf.sample "$dest/inst/relay.conf"
check "relay.conf.sample is a valid relay.conf (relayctl reads it)" \
	sh -c 'bin/relayctl -d "$1" status >/dev/null 2>&1; [ $? -eq 3 ]' _ "$dest/inst"
sed 's/^#\([a-z_]* =\)/\1/' conf/relay.conf.sample >"$dest/inst/relay.conf"
check "relay.conf.sample with every setting uncommented is valid" \
	sh -c 'bin/relayctl -d "$1" status >/dev/null 2>&1; [ $? -eq 3 ]' _ "$dest/inst"
# every setting of lib/settings.c is documented in the sample
missing=""
for k in $(grep -v '^#define' lib/settings.c | grep -oE '\b[SIB]\([a-z_0-9]+,' | sed -E 's/^[SIB]\(//; s/,$//'); do
	grep -qE "^#?$k =" conf/relay.conf.sample || missing="$missing $k"
done
check "relay.conf.sample lists every setting${missing:+ (missing:$missing)}" [ -z "$missing" ]
exit $failed
