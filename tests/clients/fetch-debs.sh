#!/bin/sh
# tests/clients/fetch-debs.sh: download and unpack the Exim and Sendmail
# packages that the client-guide tests (tests/e2e/test_guide_exim.py,
# test_guide_sendmail.py) run.  Both conflict with Postfix as the system
# MTA, so they are not installed: `apt-get download` fetches the .deb files
# from Debian's archive and `dpkg -x` unpacks them into a cache folder,
# where the tests run the binaries with a private configuration.
#
# Usage: tests/clients/fetch-debs.sh [CACHE]   (default build/client-debs)
# Prints the unpacked root (CACHE/root) and exits 0 when it is complete;
# a second run finds the stamp file and does nothing.  Libraries the box
# already has are not fetched; a missing one is listed in LIBS below.
# libnss-wrapper lets the tests give the packages their system users
# (Debian-exim, smmsp) in a private passwd file, without creating them.
set -eu
cd "$(dirname "$0")/../.."
cache=${1:-build/client-debs}
root=$cache/root
# the programs, then the libraries they need that a Debian 12 box with
# conf/packages.test installed may lack (ldd of the unpacked binaries)
PKGS="exim4-daemon-light exim4-base exim4-config sendmail-bin sendmail-base sendmail-cf m4"
LIBS="libnss-wrapper libgnutls-dane0 libidn12 liblockfile1 libwrap0 libunbound8 libevent-2.1-7"
stamp=$root/.complete
# tests/run runs the guide tests side by side: one fetch at a time
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "v2 $PKGS $LIBS" ]; then
	echo "$root"
	exit 0
fi
rm -rf "$cache"
mkdir -p "$cache/debs" "$root"
# apt-get download writes into the current folder, as user _apt when it can
(cd "$cache/debs" && chmod 0777 . && apt-get download $PKGS $LIBS) >&2
for deb in "$cache"/debs/*.deb; do
	dpkg -x "$deb" "$root"
done
# no set-id programs lying in a build folder; and a setgid binary would
# run in secure mode, ignoring LD_LIBRARY_PATH and LD_PRELOAD
find "$root" -type f -perm /6000 -exec chmod ug-s {} +
echo "v2 $PKGS $LIBS" >"$stamp"
echo "$root"
