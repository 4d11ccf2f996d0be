#!/bin/sh
# test_policy_ctl.sh: relayctl's policy commands without a running relay:
# suspend/unsuspend edit DIR/suspended by atomic replacement, passwd hashes
# a password read from stdin (never from the command line), explain says
# clearly when relay-policy is not running; usage errors exit 100.
cd "$(dirname "$0")/../.." || exit 1
BIN=${RELAYBOX_BIN:-$PWD/build/asan/bin}
D=$(mktemp -d /tmp/test_policy_ctl.XXXXXX)
trap 'rm -rf "$D"' EXIT INT TERM
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fi; }
ctl() { "$BIN/relayctl" -d "$D" "$@"; }

ctl suspend user Bob@Example.com >"$D/out" 2>&1
check "suspend user: exit 0" "[ $? -eq 0 ]"
check "suspend user: file line (lowercased)" "[ \"\$(cat '$D/suspended')\" = 'user bob@example.com' ]"
ino=$(stat -c %i "$D/suspended")
ctl suspend customer acme >/dev/null 2>&1
check "suspend customer: appended" "[ \"\$(sed -n 2p '$D/suspended')\" = 'customer acme' ]"
check "suspend: file replaced, not rewritten in place" "[ \"\$(stat -c %i '$D/suspended')\" != '$ino' ]"
ctl suspend customer acme >"$D/out" 2>&1
check "suspend twice: says so, one line" "grep -q 'already' '$D/out' && [ \$(grep -c acme '$D/suspended') -eq 1 ]"
ctl unsuspend user '"B\ob"@example.com' >/dev/null 2>&1
check "unsuspend user quoted: the same user, line removed" "[ \"\$(cat '$D/suspended')\" = 'customer acme' ]"
ctl suspend user '"Bob"@Example.com' >/dev/null 2>&1
check "suspend user quoted: the plain form (relay-policy's)" "[ \"\$(sed -n 2p '$D/suspended')\" = 'user bob@example.com' ]"
ctl unsuspend user bob@example.com >/dev/null 2>&1
check "unsuspend user: line removed" "[ \"\$(cat '$D/suspended')\" = 'customer acme' ]"
ctl suspend group x >/dev/null 2>&1
check "suspend: bad kind exits 100" "[ $? -eq 100 ]"
ctl suspend user >/dev/null 2>&1
check "suspend: missing name exits 100" "[ $? -eq 100 ]"
check "no temp files left" "[ -z \"\$(ls '$D' | grep tmp)\" ]"

out=$(printf 'pw one\n' | ctl passwd bob@example.com 2>/dev/null)
check "passwd USER: a relay.rules line with a yescrypt hash" "echo '$out' | grep -q '^user bob@example.com hash=\\\$y\\\$'"
out=$(printf 'pw one\n' | "$BIN/makecdb" --hash 2>/dev/null)
check "makecdb --hash: yescrypt" "echo '$out' | grep -q '^\\\$y\\\$'"
printf '\n' | ctl passwd >/dev/null 2>&1
check "passwd: empty password refused" "[ $? -eq 100 ]"
printf 'x\n' | ctl passwd --password=secret >/dev/null 2>&1
check "passwd: no password on the command line" "[ $? -eq 100 ]"

ctl explain --ip 192.0.2.1 --from a@example.com >"$D/out" 2>&1
rc=$?
check "explain without relay-policy: exit 111 and says why" "[ $rc -eq 111 ] && grep -q 'relay-policy is not running' '$D/out'"
ctl explain --from a@example.com >/dev/null 2>&1
check "explain without --ip: exit 100" "[ $? -eq 100 ]"
exit 0
