#!/bin/sh
# test_makecdb.sh: makecdb from the command line: -n only checks, errors
# carry file:line:column and exit 100 without touching the old CDBs, and
# replacement is atomic: a reader polling rules.cdb while makecdb rewrites
# it again and again never sees a missing, partial or unreadable file;
# users.cdb (password hashes) is readable by relay-policy alone.
cd "$(dirname "$0")/../.." || exit 1
BIN=${RELAYBOX_BIN:-$PWD/build/asan/bin}
D=$(mktemp -d /tmp/test_makecdb.XXXXXX)
READER=
trap '[ -n "$READER" ] && kill "$READER" 2>/dev/null; rm -rf "$D"' EXIT INT TERM
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; }
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }

H='$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
gen() { # gen FILE SECOND_OCTET: a rules file with 20,000 addresses
	{
		echo "customer acme licenses=10"
		echo "domain example.com customer=acme"
		echo "user u@example.com hash=$H"
		echo "rule acme lan senders=domain auth=ip"
		i=0
		while [ $i -lt 80 ]; do
			j=0
			while [ $j -lt 250 ]; do
				echo "ip acme lan 10.$2.$i.$j"
				j=$((j + 1))
			done
			i=$((i + 1))
		done
	} >"$1"
}
gen "$D/a.rules" 1
gen "$D/b.rules" 2

# -n checks only
"$BIN/makecdb" -n -d "$D" "$D/a.rules" 2>"$D/err"
check "makecdb -n: exit 0" "[ $? -eq 0 ]"
check "makecdb -n: writes nothing" "[ ! -e '$D/rules.cdb' ] && [ ! -e '$D/users.cdb' ]"
check "makecdb: summary line" "grep -q '1 customers, 1 domains, 1 users, 1 rules, 20000 addresses' '$D/err'"

"$BIN/makecdb" -d "$D" "$D/a.rules" 2>/dev/null
check "makecdb: writes both files" "[ -s '$D/rules.cdb' ] && [ -s '$D/users.cdb' ]"
check "makecdb: value readable" "[ \"\$(cdb -q '$D/rules.cdb' domain:example.com)\" = 'customer=acme' ]"
ino=$(stat -c %i "$D/rules.cdb")
# users.cdb has the password hashes: relay-policy's group only (as root)
if [ "$(id -u)" = 0 ] && getent passwd relaypolicy >/dev/null; then
	want="640 root:$(id -gn relaypolicy)"
else
	want="600 $(id -un):$(id -gn)"
fi
check "makecdb: users.cdb is $want, rules.cdb 644" \
	"[ \"\$(stat -c '%a %U:%G' '$D/users.cdb')\" = '$want' ] && [ \"\$(stat -c %a '$D/rules.cdb')\" = 644 ]"

# an error: exit 100, file:line:column, old files untouched
printf 'customer acme\ndomain example.com customer=acme\nrule acme lan senders=some auth=ip\n' >"$D/bad.rules"
"$BIN/makecdb" -d "$D" "$D/bad.rules" 2>"$D/err"
rc=$?
check "makecdb error: exit 100" "[ $rc -eq 100 ]"
check "makecdb error: file:line:column" "grep -q '^$D/bad.rules:3:23: error: bad value \"some\" for senders' '$D/err'"
check "makecdb error: old rules.cdb kept" "[ \"\$(stat -c %i '$D/rules.cdb')\" = '$ino' ]"
printf 'customer acme\ndomain example.com customer=acme\nrule acme lan senders=any auth=ip\nip acme lan 192.0.2.0/24\n' >"$D/warn.rules"
"$BIN/makecdb" -n -d "$D" "$D/warn.rules" 2>"$D/err"
check "makecdb warning: exit 0 and line:column" "[ $? -eq 0 ] && grep -q 'warn.rules:3:15: warning: rule acme/lan: senders=any' '$D/err'"
# rules without any ip line (a relay that trusts by AUTH only) write
# cleanly: no sanitizer report about the empty address list
printf 'customer acme\ndomain example.com customer=acme\nroute default mx\n' >"$D/noip.rules"
mkdir "$D/noip"
"$BIN/makecdb" -d "$D/noip" "$D/noip.rules" 2>"$D/err"
rc=$?
check "makecdb: no ip lines: written, nothing for the sanitizers" \
	"[ $rc -eq 0 ] && [ -s '$D/noip/rules.cdb' ] && ! grep -q 'runtime error' '$D/err'"
"$BIN/makecdb" -d "$D" "$D/missing.rules" 2>"$D/err"
check "makecdb: missing file is an error" "[ $? -eq 100 ] && grep -q 'missing.rules' '$D/err'"

# atomic replacement under a polling reader
(
	n=0 bad=0
	while [ ! -e "$D/stop" ] && [ $n -lt 100000 ]; do
		v=$(cdb -q "$D/rules.cdb" meta:version 2>/dev/null)
		b=$(cdb -q "$D/rules.cdb" ipbits 2>/dev/null)
		if [ "$v" != "version=1" ] || [ "$b" != "bits=128" ]; then
			bad=$((bad + 1))
		fi
		n=$((n + 1))
	done
	echo "$n $bad" >"$D/reader"
) &
READER=$!
k=0
while [ $k -lt 8 ]; do
	"$BIN/makecdb" -d "$D" "$D/b.rules" 2>/dev/null || echo x >>"$D/wfail"
	"$BIN/makecdb" -d "$D" "$D/a.rules" 2>/dev/null || echo x >>"$D/wfail"
	k=$((k + 1))
done
touch "$D/stop"
wait "$READER"
READER=
read -r reads bad <"$D/reader"
check "atomic: 16 rewrites succeeded" "[ ! -e '$D/wfail' ]"
check "atomic: reader saw only whole files ($reads reads, $bad bad)" "[ '$reads' -gt 20 ] && [ '$bad' -eq 0 ]"
check "atomic: no temp files left" "[ -z \"\$(ls '$D' | grep tmp)\" ]"
exit 0
