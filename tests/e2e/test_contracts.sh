#!/bin/sh
# test_contracts.sh: each contract between the parts is defined once.
#  - no part writes or reads a frame key as a string literal: every
#    kv_add/kv_addf/kv_addn/kv_get/kv_get_or/kv_get_all call names its key
#    by a constant of the protocol's header (lib/wire_policy.h,
#    lib/wire_queue.h, lib/wire_remote.h, lib/admit.h,
#    smtpd/smtp_worker.h);
#  - the job time budget of relay-send and relay-remote is written out
#    only in lib/wire_remote.h;
#  - a mailbox is checked by lib/addr.c's addr_mailbox_check in every
#    part that takes one from another part, and the old checkers of
#    their own (env_mailbox_ok, remote_job_addr_ok) are gone.
cd "$(dirname "$0")/../.." || exit 1
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; printf '%s\n' "$2" | sed 's/^/    /'; }
PARTS="smtpd policy queue send ctl conf"

lit=$(grep -nE 'kv_(add|addf|addn|get|get_or|get_all)\([^,]*, *"[A-Za-z_]+"' \
	$(for p in $PARTS; do ls "$p"/*.c; done) 2>/dev/null)
if [ -z "$lit" ]; then
	pass "no frame key written or read as a string literal"
else
	fail "no frame key written or read as a string literal" "$lit"
fi

budget=$(grep -rnE 'connect_timeout *\+ *[0-9]+ *\* *cf\.remote_timeout|4 \* cf\.connect_timeout' \
	--include='*.c' --include='*.h' lib $PARTS | grep -v '^lib/wire_remote.h:')
if [ -z "$budget" ]; then
	pass "the job time budget is written out in lib/wire_remote.h only"
else
	fail "the job time budget is written out in lib/wire_remote.h only" "$budget"
fi

# the parts that take a mailbox from another part check it with it
missing=
for f in queue/queue_env.c send/remote_job.c send/remote_qfile.c \
	policy/policy_decide.c policy/policy_rcpt.c smtpd/smtp_policy.c \
	conf/makecdb_parse.c; do
	grep -q 'addr_mailbox_check(' "$f" || missing="$missing $f"
done
own=$(grep -rnE 'env_mailbox_ok|remote_job_addr_ok' --include='*.c' \
	--include='*.h' $PARTS)
if [ -z "$missing$own" ]; then
	pass "every part checks a mailbox with lib/addr.c's addr_mailbox_check"
else
	fail "every part checks a mailbox with lib/addr.c's addr_mailbox_check" \
		"without it:$missing
$own"
fi
