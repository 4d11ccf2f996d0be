#!/bin/sh
# test_queue.sh: relay-queue run by hand (the qmail-queue contract):
# message on fd 0, envelope on fd 1, exit 0 durable / 100 permanent /
# 111 temporary; the file in new/ is complete, tmp/ is left clean, and a
# full disk (a 1 MiB tmpfs, when root) gives 111 and leaves nothing.
cd "$(dirname "$0")/../.." || exit 1
RQ=${RELAYBOX_BIN:-$PWD/build/asan/bin}/relay-queue
T=$(mktemp -d /tmp/relaybox-queue-XXXXXX)
chmod 755 "$T"
MNT=""
DPID=""
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; fails=$((fails + 1)); }

conf() { # dir [queue_dir]
	{
		echo "hostname = relay.test"
		echo "user_queue = nobody"
		echo "group_queue = nogroup"
		[ -n "$2" ] && echo "queue_dir = $2"
	} >"$1/relay.conf"
	[ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$1"
	chmod 755 "$1"
}
mkdir "$T/i" && conf "$T/i"
printf 'Subject: test\r\nMessage-ID: <q1@test>\r\n\r\nline one\r\n.line two\r\n' >"$T/msg"

inject() { # envelope-printf-format -> exit status, stderr in $T/err
	printf "$1" >"$T/env"
	"$RQ" -d "${2:-$T/i}" <"${3:-$T/msg}" 1<"$T/env" 2>"$T/err"
}
count() { [ -d "$1" ] && find "$1" -type f | wc -l || echo -1; }

inject 'Iip=192.0.2.7\0Ihelo=client.test\0Iproto=ESMTPS\0Itls=TLSv1.3 TLS_AES_256_GCM_SHA384\0Fa@example.com\0Tb@example.org\0\0'
rc=$?
[ $rc -eq 0 ] && pass "good envelope: exit 0" || fail "good envelope: exit 0" "exit $rc: $(cat "$T/err")"
f=$(find "$T/i/queue/new" -type f | head -1)
[ "$(count "$T/i/queue/new")" -eq 1 ] && pass "good envelope: one file in new/" || fail "good envelope: one file in new/"
[ "$(count "$T/i/queue/tmp")" -eq 0 ] && pass "good envelope: tmp/ clean" || fail "good envelope: tmp/ clean"
id=$(basename "$f")
echo "$id" | grep -Eq '^[0-9A-F]{12,40}$' && pass "id is uppercase hex" || fail "id is uppercase hex" "$id"
head -1 "$f" | grep -qx 'relaybox-queue 1' && pass "queue file magic" || fail "queue file magic"
grep -qx "qid=$id" "$f" && grep -qx 'from=a@example.com' "$f" && grep -qx 'rcpt=b@example.org' "$f" &&
	pass "queue file envelope" || fail "queue file envelope" "$(head -12 "$f")"
grep -q "^Received: from client.test (\[192.0.2.7\])" "$f" && grep -q "with ESMTPS (TLSv1.3 TLS_AES_256_GCM_SHA384)" "$f" &&
	grep -q "	id $id" "$f" && grep -q "	for <b@example.org>; [A-Z][a-z][a-z], [0-9]* [A-Z][a-z][a-z] 20[0-9][0-9] [0-9:]* [+-][0-9]\{4\}" "$f" &&
	pass "Received header (ip, helo, proto, tls, id, for, date)" || fail "Received header" "$(sed -n '/^Received/,/;/p' "$f")"
sz=$(wc -c <"$T/msg")
tail -c "$sz" "$f" | cmp -s - "$T/msg" && pass "message stored byte for byte" || fail "message stored byte for byte"
grep -q "$id: from=<a@example.com> nrcpt=1 size=$sz ip=192.0.2.7" "$T/err" && pass "log line" || fail "log line" "$(cat "$T/err")"
[ "$(id -u)" = 0 ] && { [ "$(stat -c %U:%a "$f")" = nobody:640 ] && pass "file owned by user_queue, 0640" || fail "file owned by user_queue, 0640" "$(stat -c %U:%G:%a "$f")"; }

inject 'Fa@example.com\0Tb@example.org\0Tc@example.net\0\0'
[ $? -eq 0 ] && ! grep -q "	for <" "$(ls -t "$T"/i/queue/new/* | head -1)" && pass "two recipients: no 'for' clause" || fail "two recipients: no 'for' clause"

n0=$(count "$T/i/queue/new")
bad() { # name envelope
	inject "$2"
	rc=$?
	if [ $rc -eq 100 ] && [ "$(count "$T/i/queue/new")" -eq "$n0" ] && [ "$(count "$T/i/queue/tmp")" -eq 0 ]; then
		pass "refused with 100: $1"
	else
		fail "refused with 100: $1" "exit $rc, $(cat "$T/err")"
	fi
}
bad "no recipients" 'Fa@example.com\0\0'
bad "empty envelope (aborted DATA)" ''
bad "no final empty field" 'Fa@example.com\0Tb@example.org\0'
bad "bytes after the end" 'Fa@example.com\0Tb@example.org\0\0junk'
bad "newline in a recipient" 'Fa@example.com\0Tb@example.org\nrcpt=evil@x.org\0\0'
bad "recipient without domain" 'Fa@example.com\0Tb\0\0'
bad "recipient with space" 'Fa@example.com\0Tb c@example.org\0\0'
bad "two senders" 'Fa@example.com\0Fb@example.com\0Tb@example.org\0\0'
bad "recipient before sender" 'Tb@example.org\0Fa@example.com\0\0'
bad "reserved info key" 'Iqid=FAKE\0Fa@example.com\0Tb@example.org\0\0'
bad "info key with uppercase" 'IIP=1.2.3.4\0Fa@example.com\0Tb@example.org\0\0'
bad "unknown field" 'Xwhat\0Fa@example.com\0Tb@example.org\0\0'
bad "control byte in info" 'Ihelo=a\033b\0Fa@example.com\0Tb@example.org\0\0'

inject 'F\0Tpostmaster@example.org\0\0'
[ $? -eq 0 ] && grep -qx 'from=' "$(ls -t "$T"/i/queue/new/* | head -1)" && pass "null sender accepted" || fail "null sender accepted" "$(cat "$T/err")"

# a large message goes through the spill file and arrives intact
head -c 3000000 /dev/urandom | base64 | sed 's/$/\r/' >"$T/big"
inject 'Fa@example.com\0Tb@example.org\0\0' "$T/i" "$T/big"
rc=$?
f=$(ls -t "$T"/i/queue/new/* | head -1)
[ $rc -eq 0 ] && tail -c "$(wc -c <"$T/big")" "$f" | cmp -s - "$T/big" && pass "4 MB message stored intact" || fail "4 MB message stored intact"

# the daemon removes tmp/ files left by a crash (older than an hour) and
# leaves fresh ones (an injection in progress)
mkdir -p "$T/i/run"
[ "$(id -u)" = 0 ] && chown nobody "$T/i/run"
echo stale >"$T/i/queue/tmp/6B0000000000000000001"
echo fresh >"$T/i/queue/tmp/6B0000000000000000002"
touch -d '2 hours ago' "$T/i/queue/tmp/6B0000000000000000001"
# a rename only half on disk (no journal, power cut): the same inode in
# tmp/ and new/; the tmp/ name must stay or the queued message is freed
echo queued >"$T/i/queue/new/6B0000000000000000003"
ln "$T/i/queue/new/6B0000000000000000003" "$T/i/queue/tmp/6B0000000000000000003"
touch -d '2 hours ago' "$T/i/queue/tmp/6B0000000000000000003"
"$RQ" -d "$T/i" -l 2>"$T/derr" &
DPID=$!
i=0
while [ ! -S "$T/i/run/queue.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$T/i/run/queue.sock" ] && [ ! -e "$T/i/queue/tmp/6B0000000000000000001" ] &&
	[ -e "$T/i/queue/tmp/6B0000000000000000002" ] &&
	pass "daemon start: stale tmp/ file removed, fresh one kept" ||
	fail "daemon start: stale tmp/ file removed, fresh one kept" "$(cat "$T/derr"; ls "$T/i/queue/tmp")"
[ -e "$T/i/queue/tmp/6B0000000000000000003" ] && grep -qx queued "$T/i/queue/new/6B0000000000000000003" &&
	pass "daemon start: a tmp/ name of a file in new/ is kept" ||
	fail "daemon start: a tmp/ name of a file in new/ is kept" "$(cat "$T/derr")"
kill "$DPID"
wait "$DPID" 2>/dev/null
DPID=""
rm -f "$T/i/queue/tmp/6B0000000000000000002" "$T/i/queue/tmp/6B0000000000000000003" "$T/i/queue/new/6B0000000000000000003"

# a full disk: 111, nothing left in new/ or tmp/
if [ "$(id -u)" = 0 ] && mkdir "$T/fs" && mount -t tmpfs -o size=1m tmpfs "$T/fs" 2>/dev/null; then
	MNT="$T/fs"
	chown nobody:nogroup "$T/fs"
	mkdir "$T/j" && conf "$T/j" "$T/fs/queue"
	inject 'Fa@example.com\0Tb@example.org\0\0' "$T/j" "$T/big"
	rc=$?
	[ $rc -eq 111 ] && pass "ENOSPC: exit 111" || fail "ENOSPC: exit 111" "exit $rc $(cat "$T/err")"
	grep -qi "space" "$T/err" && pass "ENOSPC: the reason says space" || fail "ENOSPC: the reason says space" "$(cat "$T/err")"
	[ "$(count "$T/fs/queue/new")" -eq 0 ] && [ "$(count "$T/fs/queue/tmp")" -eq 0 ] &&
		pass "ENOSPC: nothing left in new/ or tmp/" || fail "ENOSPC: nothing left in new/ or tmp/" "$(find "$T/fs")"
	inject 'Fa@example.com\0Tb@example.org\0\0' "$T/j"
	[ $? -eq 0 ] && [ "$(count "$T/fs/queue/new")" -eq 1 ] && pass "ENOSPC: a small message still fits" || fail "ENOSPC: a small message still fits"
else
	echo "SKIP ENOSPC test: needs root and tmpfs"
fi
[ $fails -eq 0 ]
