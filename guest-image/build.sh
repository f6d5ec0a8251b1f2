#!/usr/bin/env bash
# Build the test guest (kernel + busybox initramfs) from Debian packages only.
#
#   guest-image/build.sh OUTDIR
#
# Writes OUTDIR/vmlinuz, OUTDIR/initrd.img, OUTDIR/image.json.
# Cached: when OUTDIR already holds a build made by this exact script and the
# same kernel package version, it exits at once.
#
# Nothing is installed on the host: packages are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into a temp dir.
# `apt-get update` runs only when a lookup/download fails for lack of lists.
set -euo pipefail

OUTDIR=${1:?usage: build.sh OUTDIR}
KERNEL_META=${GUEST_KERNEL_META:-linux-image-cloud-amd64}
BUSYBOX_PKG=busybox-static

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_SHA=$(sha256sum "$SCRIPT_PATH" | cut -c1-16)

log() { echo "build.sh: $*" >&2; }

UPDATED=0
apt_update_once() {
  if [ "$UPDATED" = 0 ]; then
    log "package lists missing or stale; running apt-get update"
    apt-get update -qq >&2
    UPDATED=1
  fi
}

# The versioned kernel package the meta package depends on.
kernel_pkg() {
  apt-cache depends "$KERNEL_META" 2>/dev/null \
    | awk '/Depends: linux-image-[0-9]/ && !v {v=$2} END {print v}'
}

KPKG=$(kernel_pkg || true)
if [ -z "$KPKG" ]; then
  apt_update_once
  KPKG=$(kernel_pkg || true)
fi
[ -n "$KPKG" ] || { log "cannot resolve the package behind $KERNEL_META"; exit 1; }
KPKG_VERSION=$(apt-cache policy "$KPKG" 2>/dev/null | awk '/Candidate:/ && !v {v=$2} END {print v}')
BUILD_ID="script=${SCRIPT_SHA} kernel=${KPKG}=${KPKG_VERSION}"

mkdir -p "$OUTDIR"
OUTDIR=$(readlink -f "$OUTDIR")
if [ -f "$OUTDIR/image.json" ] && [ -f "$OUTDIR/vmlinuz" ] && [ -f "$OUTDIR/initrd.img" ] \
   && [ -f "$OUTDIR/.build-id" ] && [ "$(cat "$OUTDIR/.build-id")" = "$BUILD_ID" ]; then
  log "up to date ($BUILD_ID)"
  exit 0
fi

# Serialize concurrent builds into the same OUTDIR.
exec 9>"$OUTDIR/.lock"
flock 9
if [ -f "$OUTDIR/.build-id" ] && [ "$(cat "$OUTDIR/.build-id")" = "$BUILD_ID" ] \
   && [ -f "$OUTDIR/image.json" ]; then
  log "up to date ($BUILD_ID), built by a concurrent run"
  exit 0
fi

WORK=$(mktemp -d /tmp/euca-guest-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

download() { # pkg...
  (cd "$WORK/debs" && apt-get download -q "$@" >/dev/null 2>"$WORK/apt.err") && return 0
  if grep -qiE 'unable to locate|has no installation candidate|no packages found' "$WORK/apt.err"; then
    apt_update_once
    (cd "$WORK/debs" && apt-get download -q "$@" >/dev/null 2>"$WORK/apt.err") && return 0
  fi
  cat "$WORK/apt.err" >&2
  return 1
}

mkdir -p "$WORK/debs" "$WORK/kernel" "$WORK/bb" "$WORK/root"
log "downloading $KPKG and $BUSYBOX_PKG"
download "$KPKG" "$BUSYBOX_PKG"
# apt-get download may complain about the _apt sandbox; files are what matter.
dpkg-deb -x "$WORK"/debs/${KPKG}_*.deb "$WORK/kernel"
dpkg-deb -x "$WORK"/debs/${BUSYBOX_PKG}_*.deb "$WORK/bb"

VMLINUZ=$(ls "$WORK"/kernel/boot/vmlinuz-* | head -n1)
MODDIR=$(ls -d "$WORK"/kernel/lib/modules/* | head -n1)
KVER=$(basename "$MODDIR")

# ---- initramfs tree --------------------------------------------------------
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,lib/modules,root,var/run}
cp "$WORK/bb/bin/busybox" "$R/bin/busybox"
chmod 755 "$R/bin/busybox"
# applet symlinks (the kernel needs /bin/sh before init can run anything)
for a in $("$R/bin/busybox" --list-full); do
  [ -e "$R/$a" ] || ln -s /bin/busybox "$R/$a"
done
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3

# Modules, in load order. Compressed ones are decompressed here because
# busybox insmod cannot. Missing ones are skipped (maybe built in).
MODS="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk evdev button"
: > "$R/etc/modules.order"
for m in $MODS; do
  f=$(find "$MODDIR/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" \) | head -n1)
  if [ -z "$f" ]; then log "module $m not in $KVER (built in?), skipped"; continue; fi
  case "$f" in
    *.ko.xz)  xz -dc "$f" > "$R/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" > "$R/lib/modules/$m.ko" ;;
    *.ko.gz)  gzip -dc "$f" > "$R/lib/modules/$m.ko" ;;
    *)        cp "$f" "$R/lib/modules/$m.ko" ;;
  esac
  echo "$m" >> "$R/etc/modules.order"
done

cat > "$R/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc hook: configure eth0 from the lease.
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface" 2>/dev/null
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface" 2>/dev/null
    ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast $broadcast} dev "$interface"
    if [ -n "$router" ]; then
      ip route del default 2>/dev/null
      for r in $router; do ip route add default via "$r" dev "$interface" && break; done
    fi
    : > /etc/resolv.conf
    [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    [ -n "$hostname" ] && hostname "$hostname"
    { echo "ip=$ip"; echo "hostname=${hostname:-none}"; } > /tmp/lease.env
    ;;
esac
exit 0
EOF
chmod 755 "$R/etc/udhcpc.script"

cat > "$R/init" <<'EOF'
#!/bin/sh
# PID 1 of the EUCA test guest.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /tmp /run
exec </dev/console >/dev/console 2>&1

for m in $(cat /etc/modules.order); do
  insmod /lib/modules/$m.ko 2>/dev/null
done

# ACPI power button -> power off. The button module exposes the power
# button as an input device; wait for any event on it, then power off.
watch_power_button() {
  for i in 1 2 3 4 5 6 7 8 9 10; do
    found=0
    for ev in /sys/class/input/event*; do
      [ -e "$ev/device/name" ] || continue
      case "$(cat "$ev/device/name")" in
        *"Power Button"*)
          found=1
          dev=/dev/$(basename "$ev")
          [ -e "$dev" ] || mknod "$dev" c $(tr ':' ' ' < "$ev/dev")
          ( dd if="$dev" of=/dev/null bs=24 count=1 2>/dev/null
            echo "EUCA-POWERDOWN"
            sync
            poweroff -f ) &
          ;;
      esac
    done
    [ "$found" = 1 ] && return
    sleep 1
  done
  echo "EUCA-NO-POWER-BUTTON"
}
watch_power_button &

ip link set lo up
# wait for eth0 to appear (virtio_net probe)
for i in $(seq 1 50); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
ip link set eth0 up

rm -f /tmp/lease.env
while :; do
  udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 4 -T 1 -A 1 -O hostname >/dev/null 2>&1
  [ -f /tmp/lease.env ] && break
  echo "EUCA-NO-LEASE"
  sleep 1
done
. /tmp/lease.env
echo "EUCA-BOOT-OK ip=$ip hostname=$hostname"

# Keep renewing the lease in the background.
udhcpc -i eth0 -s /etc/udhcpc.script -b -O hostname >/dev/null 2>&1

# (busybox 1.35 wget -T segfaults, so the time limit comes from `timeout`)
if timeout 5 wget -q -O /tmp/user-data http://169.254.169.254/latest/user-data 2>/dev/null \
   && [ "$(head -c 2 /tmp/user-data)" = "#!" ]; then
  chmod +x /tmp/user-data
  echo "EUCA-USERDATA-BEGIN"
  sh /tmp/user-data 2>&1
  echo "EUCA-USERDATA-END"
fi

while :; do sleep 3600; done
EOF
chmod 755 "$R/init"
echo "test-guest" > "$R/etc/hostname"
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
echo "root:x:0:" > "$R/etc/group"

# ---- pack ------------------------------------------------------------------
(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -9n > "$WORK/initrd.img"
cp "$VMLINUZ" "$WORK/vmlinuz"

K_SHA=$(sha256sum "$WORK/vmlinuz" | cut -d' ' -f1)
I_SHA=$(sha256sum "$WORK/initrd.img" | cut -d' ' -f1)
cat > "$WORK/image.json" <<EOF
{"name":"test-guest","kernel":"vmlinuz","ramdisk":"initrd.img","sha256":{"vmlinuz":"$K_SHA","initrd.img":"$I_SHA"},"kernelVersion":"$KVER","buildId":"$BUILD_ID"}
EOF

# Install atomically-ish: files first, build-id last.
rm -f "$OUTDIR/.build-id"
for f in vmlinuz initrd.img image.json; do
  cp "$WORK/$f" "$OUTDIR/.$f.tmp" && mv -f "$OUTDIR/.$f.tmp" "$OUTDIR/$f"
done
echo "$BUILD_ID" > "$OUTDIR/.build-id"
log "built $OUTDIR ($BUILD_ID)"
