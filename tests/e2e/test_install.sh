#!/bin/sh
# test_install.sh: make install into a temporary DESTDIR builds the
# release programs (optimised, no sanitizer in them) and puts them, the man
# pages, samples and the systemd unit in place; a second run never
# overwrites the operator's relay.conf; the caller's CFLAGS/CPPFLAGS are
# added to the project's flags, never replacing them.
cd "$(dirname "$0")/../.." || exit 1
dest=$(mktemp -d "${TMPDIR:-/tmp}/relaybox-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT INT TERM
# tests/run may run test_install_run.py beside this one: one make of
# build/release at a time
mkdir -p build && exec 9>build/install.lock && flock 9
ok() { echo "PASS $1"; }
no() { echo "FAIL $1"; failed=1; }
check() { # name test-args...
	name=$1
	shift
	if "$@"; then ok "$name"; else no "$name"; fi
}
failed=0

progs="relay-master relayctl makecdb relay-listen relay-smtpd relay-policy
	relay-queue relay-send relay-remote relay-metrics"
out=$(${MAKE:-make} -s install DESTDIR="$dest" PREFIX=/usr 2>&1)
check "make install DESTDIR=... PREFIX=/usr exits 0" [ $? -eq 0 ]
[ $failed -eq 0 ] || echo "$out" | tail -n 20
for p in $progs; do
	check "sbin/$p installed, executable" [ -x "$dest/usr/sbin/$p" ]
	check "sbin/$p has no sanitizer (nm, strings: __asan/__ubsan)" sh -c \
		'! nm -A "$1" 2>/dev/null | grep -q "__asan\|__ubsan" &&
		 ! strings "$1" | grep -q "__asan\|__ubsan" &&
		 nm "$1" | grep -q " T main$"' _ "$dest/usr/sbin/$p"
done
check "sbin/relay-smtpd is execute-only (0711), relay-listen 0755" sh -c \
	'[ "$(stat -c %a "$1/relay-smtpd")" = 711 ] &&
	 [ "$(stat -c %a "$1/relay-listen")" = 755 ]' _ "$dest/usr/sbin"
check "only the programs are installed (no benchmark tools)" \
	[ "$(ls "$dest/usr/sbin" | wc -l)" -eq "$(echo $progs | wc -w)" ]
check "the test build does have sanitizers (the check above can fail)" sh -c \
	'[ ! -x "$1" ] || nm "$1" | grep -q __asan' _ "${RELAYBOX_BIN:-build/asan/bin}/relayctl"
flags=$(${MAKE:-make} -n -B CFLAGS=-DUSER_C CPPFLAGS=-DUSER_CPP build/release/lib/ns.o)
check "user CFLAGS/CPPFLAGS appended to -std=c11 -Ilib (release build)" sh -c \
	'echo "$1" | grep -q -- "-Ilib.*-DUSER_CPP.*-std=c11.*-DUSER_C" &&
	 ! echo "$1" | grep -q -- -fsanitize' _ "$flags"
flags=$(${MAKE:-make} -n -B build/release/lib/ns.o)
check "release build: -O2, no sanitizer" sh -c \
	'echo "$1" | grep -q -- "-O2" && ! echo "$1" | grep -q -- -fsanitize' _ "$flags"
check "man8/relay-master.8 installed" [ -f "$dest/usr/share/man/man8/relay-master.8" ]
check "man8/relayctl.8 installed" [ -f "$dest/usr/share/man/man8/relayctl.8" ]
check "etc/relaybox/relay.conf from the sample" cmp -s conf/relay.conf.sample "$dest/etc/relaybox/relay.conf"
if [ -f conf/relay.rules.sample ]; then
	check "etc/relaybox/relay.rules from the sample, mode 640" \
		[ "$(stat -c %a "$dest/etc/relaybox/relay.rules")" = 640 ]
fi
check "relaybox.service names /usr/sbin/relay-master" \
	grep -q '^ExecStart=/usr/sbin/relay-master -d /etc/relaybox$' "$dest/etc/systemd/system/relaybox.service"
check "systemctl reload runs relayctl reload (waits, fails when the certificate did not load)" \
	grep -q '^ExecReload=/usr/sbin/relayctl -d /etc/relaybox reload$' "$dest/etc/systemd/system/relaybox.service"
check "no users created for a DESTDIR install" sh -c "! echo \"\$1\" | grep -q mkusers" _ "$out"

echo "# operator's edit" >>"$dest/etc/relaybox/relay.conf"
${MAKE:-make} -s install DESTDIR="$dest" PREFIX=/usr >/dev/null 2>&1
check "second install keeps the operator's relay.conf" grep -q "operator's edit" "$dest/etc/relaybox/relay.conf"

mkdir -p "$dest/inst" && cp conf/relay.conf.sample "$dest/inst/relay.conf"
check "relay.conf.sample is a valid relay.conf (relayctl reads it)" \
	sh -c '"$2" -d "$1" status >/dev/null 2>&1; [ $? -eq 3 ]' _ "$dest/inst" "$dest/usr/sbin/relayctl"
sed 's/^#\([a-z_]* =\)/\1/' conf/relay.conf.sample >"$dest/inst/relay.conf"
check "relay.conf.sample with every setting uncommented is valid" \
	sh -c '"$2" -d "$1" status >/dev/null 2>&1; [ $? -eq 3 ]' _ "$dest/inst" "$dest/usr/sbin/relayctl"
# every setting of lib/settings.c is documented in the sample
missing=""
for k in $(grep -v '^#define' lib/settings.c | grep -oE '\b[SIB]\([a-z_0-9]+,' | sed -E 's/^[SIB]\(//; s/,$//'); do
	grep -qE "^#?$k =" conf/relay.conf.sample || missing="$missing $k"
done
check "relay.conf.sample lists every setting${missing:+ (missing:$missing)}" [ -z "$missing" ]
# INSTALL.md's apt-get line is conf/packages.build, whole
apt=$(sed -n '/^apt-get install build-essential/,/^make install/p' INSTALL.md)
missing=""
for p in $(grep -v '^#' conf/packages.build); do
	printf '%s\n' "$apt" | grep -qw -- "$p" || missing="$missing $p"
done
check "INSTALL.md's apt-get line names conf/packages.build${missing:+ (missing:$missing)}" [ -z "$missing" ]
exit $failed
