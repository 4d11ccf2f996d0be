#!/bin/sh
# conf/deps.sh build|test: make sure the Debian packages that building
# (conf/packages.build) or testing (that list and conf/packages.test)
# needs are installed.  As root it installs the missing ones (apt-get,
# no Recommends relied upon: every package is named in the lists) and,
# for "test", creates the relay users (conf/mkusers.sh) so that the
# tests check the real uids.  As another user it names the missing
# packages and the command that installs them, and exits 1.
# Used by make run, make test, make bench and .ci/run.
set -eu
cd "$(dirname "$0")/.."
what=${1:-build}
case $what in
build) lists=conf/packages.build ;;
test) lists="conf/packages.build conf/packages.test" ;;
*) echo "usage: conf/deps.sh build|test" >&2; exit 100 ;;
esac
if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system; install the packages of $lists by hand" >&2
	exit 0
fi

missing=""
for p in $(sed -e 's/#.*//' $lists); do
	st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null) || st=""
	[ "$st" = installed ] || missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: missing Debian packages:$missing" >&2
		echo "deps.sh: install them as root with:" >&2
		echo "    apt-get install -y --no-install-recommends$missing" >&2
		exit 1
	fi
	echo "deps.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Postfix only for its smtp-source: it must not take port 25 or ask
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	apt-get update
	apt-get install -y --no-install-recommends $missing
	case " $missing " in
	*" postfix "*)
		if command -v systemctl >/dev/null 2>&1; then
			systemctl stop postfix >/dev/null 2>&1 || true
		fi
		/usr/sbin/postfix stop >/dev/null 2>&1 || true ;;
	esac
fi
if [ "$what" = test ] && [ "$(id -u)" -eq 0 ]; then
	conf/mkusers.sh >/dev/null
fi
exit 0
