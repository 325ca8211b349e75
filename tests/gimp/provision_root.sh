#!/usr/bin/env bash
# Provision (or reuse) a Debian root with one GIMP 3 series + Python plug-in support.
#
# Why: Debian 12 ships GIMP 2.10 without Python, so the plug-in tests run GIMP 3 from a newer
# Debian root (see ../shared/docs/gimp3-headless.md and gimp32-root.md): GIMP 3.0 from Debian 13
# (trixie), GIMP 3.2 from Debian forky. A root is kept between runs and rebuilt only when it is
# missing or incomplete.
#
# Usage: provision_root.sh SERIES ROOT     (SERIES: 3.0 or 3.2; tests/gimp/harness.py's SERIES
#        table names each series' default ROOT)
# Prints the root's path on the last line of stdout.
set -euo pipefail
SERIES="${1:?usage: provision_root.sh SERIES ROOT (SERIES 3.0 or 3.2)}"
ROOT="${2:?usage: provision_root.sh SERIES ROOT}"
MIRROR="${NST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STAMP="$ROOT/.nst-gimp3-ready"

# The Debian suite that ships each series. forky is newer than Debian 12's debootstrap, which has
# no script for it: the sid script builds it. The testing mirror can serve an expired Release
# file, so apt inside a testing root does not check Valid-Until.
case "$SERIES" in
  3.0) SUITE=trixie; APT_OPTS="" ;;
  3.2) SUITE=forky;  APT_OPTS="-o Acquire::Check-Valid-Until=false" ;;
  *) echo "error: unknown GIMP series '$SERIES' (known: 3.0, 3.2)" >&2; exit 2 ;;
esac

gimp_console() { ls "$ROOT"/usr/bin/gimp-console-"$SERIES" 2>/dev/null | head -1; }
valid() {
  [ -f "$STAMP" ] && [ -n "$(gimp_console)" ] \
    && [ -n "$(ls "$ROOT"/usr/lib/*/girepository-1.0/Gimp-3.0.typelib 2>/dev/null)" ] \
    && [ -d "$ROOT/usr/lib/python3/dist-packages/gi" ]
}

# Extras for the plug-in's dialog test (a virtual display and a key presser). Optional: the
# test skips without them. Added to an existing root when missing.
EXTRAS="xvfb xauth xdotool x11-apps"
extras_ok() { [ -x "$ROOT/usr/bin/Xvfb" ] && [ -x "$ROOT/usr/bin/xdotool" ] && [ -x "$ROOT/usr/bin/xwd" ]; }

in_root() {  # run apt-get & co. inside the root in a clean environment
  chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive bash -c "$1"
}

install_extras() {
  [ "$(id -u)" = 0 ] || return 0
  local mounted=() m
  for m in proc dev sys; do
    mountpoint -q "$ROOT/$m" || { mount --bind "/$m" "$ROOT/$m" && mounted+=("$m"); }
  done
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  in_root "apt-get $APT_OPTS update -qq && apt-get install -y -qq --no-install-recommends $EXTRAS >/dev/null" >&2 \
    || echo "warning: could not install $EXTRAS into the root (the dialog test will be skipped)" >&2
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount "$ROOT/${mounted[$i]}" || umount -l "$ROOT/${mounted[$i]}" || true; done
}

if valid; then
  echo "reusing GIMP $SERIES root at $ROOT" >&2
  extras_ok || install_extras
  echo "$ROOT"; exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "error: building the GIMP $SERIES root needs root (debootstrap, chroot)." >&2
  exit 3
fi

# run.py builds both roots at once: the host's apt is taken in turn (its lock refuses a second
# apt-get at once, and the loser went on without debootstrap).
if ! command -v debootstrap >/dev/null; then
  (
    flock -x 9
    command -v debootstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
  ) 9>/var/lock/nst-host-apt.lock >&2 || true
fi
command -v debootstrap >/dev/null || {
  echo "error: debootstrap is not installed and could not be installed (apt-get install debootstrap)" >&2
  exit 5; }
SCRIPT=""
DSCRIPTS=/usr/share/debootstrap/scripts
[ -e "$DSCRIPTS/$SUITE" ] || SCRIPT="$DSCRIPTS/sid"

# A half-built root from an interrupted run: unmount anything left and start over.
for m in proc dev sys; do mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m" || true; done
if [ -d "$ROOT" ] && [ ! -f "$STAMP" ]; then
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then rm -rf "$ROOT"; fi
fi
mkdir -p "$(dirname "$ROOT")"

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  echo "debootstrap $SUITE into $ROOT (a few minutes)" >&2
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" $SCRIPT >&2
fi

cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
mounted=()
cleanup() { for m in "${mounted[@]}"; do umount -l "$ROOT/$m" || true; done; }
trap cleanup EXIT
for m in proc dev sys; do
  mountpoint -q "$ROOT/$m" || { mount --bind "/$m" "$ROOT/$m"; mounted+=("$m"); }
done
echo "installing GIMP $SERIES ($SUITE) into the root" >&2
in_root "apt-get $APT_OPTS update -qq && apt-get install -y -qq --no-install-recommends gimp python3-gi gir1.2-gimp-3.0 gir1.2-gegl-0.4 $EXTRAS >/dev/null" >&2
valid_without_stamp() { touch "$STAMP"; valid || { rm -f "$STAMP"; return 1; }; }
valid_without_stamp || {
  echo "error: the GIMP $SERIES root at $ROOT is incomplete after provisioning (no gimp-console-$SERIES?)" >&2
  exit 4; }
echo "$ROOT"
