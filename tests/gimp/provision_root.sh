#!/usr/bin/env bash
# Provision (or reuse) a Debian 13 root with GIMP 3 + Python plug-in support.
#
# Why: Debian 12 ships GIMP 2.10 without Python, so the plug-in tests run GIMP 3
# from a trixie root (see ../shared/docs/gimp3-headless.md). The root is kept
# between runs and rebuilt only when it is missing or incomplete.
#
# Usage: provision_root.sh [ROOT]    (default: $NST_GIMP3_ROOT or /var/cache/nst-gimp3-root)
# Prints the root's path on the last line of stdout.
set -euo pipefail
ROOT="${1:-${NST_GIMP3_ROOT:-/var/cache/nst-gimp3-root}}"
MIRROR="${NST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STAMP="$ROOT/.nst-gimp3-ready"

valid() {
  [ -f "$STAMP" ] && [ -x "$ROOT/usr/bin/gimp-console-3.0" ] \
    && [ -e "$ROOT/usr/lib/x86_64-linux-gnu/girepository-1.0/Gimp-3.0.typelib" -o -n "$(ls "$ROOT"/usr/lib/*/girepository-1.0/Gimp-3.0.typelib 2>/dev/null)" ] \
    && [ -d "$ROOT/usr/lib/python3/dist-packages/gi" ]
}

# Extras for the plug-in's dialog test (a virtual display and a key presser). Optional: the
# test skips without them. Added to an existing root when missing.
EXTRAS="xvfb xauth xdotool x11-apps"
extras_ok() { [ -x "$ROOT/usr/bin/Xvfb" ] && [ -x "$ROOT/usr/bin/xdotool" ] && [ -x "$ROOT/usr/bin/xwd" ]; }

install_extras() {
  [ "$(id -u)" = 0 ] || return 0
  local mounted=() m
  for m in proc dev sys; do
    mountpoint -q "$ROOT/$m" || { mount --bind "/$m" "$ROOT/$m" && mounted+=("$m"); }
  done
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $EXTRAS >/dev/null" >&2 \
    || echo "warning: could not install $EXTRAS into the root (the dialog test will be skipped)" >&2
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount "$ROOT/${mounted[$i]}" || umount -l "$ROOT/${mounted[$i]}" || true; done
}

if valid; then
  echo "reusing GIMP 3 root at $ROOT" >&2
  extras_ok || install_extras
  echo "$ROOT"; exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "error: building the GIMP 3 root needs root (debootstrap, chroot)." >&2
  exit 3
fi

if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

# A half-built root from an interrupted run: unmount anything left and start over.
for m in proc dev sys; do mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m" || true; done
if [ -d "$ROOT" ] && [ ! -f "$STAMP" ]; then
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then rm -rf "$ROOT"; fi
fi
mkdir -p "$(dirname "$ROOT")"

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  echo "debootstrap trixie into $ROOT (a few minutes)" >&2
  debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >&2
fi

cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
mounted=()
cleanup() { for m in "${mounted[@]}"; do umount -l "$ROOT/$m" || true; done; }
trap cleanup EXIT
for m in proc dev sys; do
  mountpoint -q "$ROOT/$m" || { mount --bind "/$m" "$ROOT/$m"; mounted+=("$m"); }
done
echo "installing GIMP 3 into the root" >&2
chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gimp python3-gi gir1.2-gimp-3.0 gir1.2-gegl-0.4 $EXTRAS >/dev/null" >&2
touch "$STAMP"
valid || { echo "error: GIMP 3 root at $ROOT is incomplete after provisioning" >&2; exit 4; }
echo "$ROOT"
