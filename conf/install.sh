#!/bin/sh
# install.sh DESTDIR PREFIX: "make install".
#   bin/<program>    -> DESTDIR/PREFIX/sbin   (daemons, relayctl, makecdb)
#   man/*.5, man/*.8 -> DESTDIR/PREFIX/share/man/man5, man8
#   samples          -> DESTDIR/etc/relaybox  (never overwriting a file)
#   relaybox.service -> DESTDIR/etc/systemd/system (when that exists or DESTDIR)
# As root with an empty DESTDIR it also creates the system users
# (conf/mkusers.sh).  BIN (environment; make passes its BIN=) names the
# folder of the built programs, bin (the release build) by default;
# PROGRAMS (environment; make passes its list) the programs to install, by
# default every one that make builds (not the benchmark's tools).
set -eu
cd "$(dirname "$0")/.."
DESTDIR=${1:-}
PREFIX=${2:-/usr/local}
BIN=${BIN:-bin}
PROGRAMS=${PROGRAMS:-"relay-master relayctl makecdb relay-listen relay-smtpd relay-policy relay-queue relay-send relay-remote"}
SBIN="$DESTDIR$PREFIX/sbin"
MAN="$DESTDIR$PREFIX/share/man"
ETC="$DESTDIR/etc/relaybox"

[ -d "$BIN" ] || { echo "install.sh: nothing built in $BIN (run make)" >&2; exit 100; }
install -d -m 755 "$SBIN" "$MAN/man5" "$MAN/man8" "$ETC"
for p in $PROGRAMS; do
	[ -f "$BIN/$p" ] && [ -x "$BIN/$p" ] ||
		{ echo "install.sh: $BIN/$p is not built (run make)" >&2; exit 100; }
	# 755, or 711 for a program the build made execute-only (Makefile)
	mode=755
	[ "$(stat -c %a "$BIN/$p")" = 711 ] && mode=711
	install -m "$mode" "$BIN/$p" "$SBIN/"
	echo "installed $SBIN/$p"
done
for f in man/*.5 man/*.8; do
	[ -f "$f" ] || continue
	sect=${f##*.}
	install -m 644 "$f" "$MAN/man$sect/"
done

# samples: the operator's files are never overwritten
sample() { # source target mode
	if [ -f "$1" ] && [ ! -e "$2" ]; then
		install -m "$3" "$1" "$2"
		echo "installed $2"
	fi
}
sample conf/relay.conf.sample "$ETC/relay.conf" 644
sample conf/relay.rules.sample "$ETC/relay.rules" 640
[ -f conf/relay.rules.sample ] && install -m 644 conf/relay.rules.sample "$ETC/relay.rules.sample"
install -m 644 conf/relay.conf.sample "$ETC/relay.conf.sample"

unit="$DESTDIR/etc/systemd/system"
if [ -n "$DESTDIR" ] || [ -d /etc/systemd/system ]; then
	install -d -m 755 "$unit"
	sed "s|@SBIN@|$PREFIX/sbin|g" conf/relaybox.service >"$unit/relaybox.service"
	chmod 644 "$unit/relaybox.service"
	echo "installed $unit/relaybox.service"
fi

if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ]; then
	conf/mkusers.sh
	[ -f "$ETC/relay.rules" ] && "$SBIN/makecdb" -d "$ETC" || true
	echo "Next: edit $ETC/relay.conf and $ETC/relay.rules, run makecdb -d $ETC,"
	echo "then: systemctl daemon-reload && systemctl enable --now relaybox"
fi
