#!/usr/bin/env bash
# Builds (or finds) the lab guest image: image.sh CACHE_ROOT -> prints the image directory.
#
# The image is a Debian 12 root file system made by mmdebstrap from tests/lab/packages, an ext4 file
# (rootfs.img) plus the kernel and initrd it booted with (vmlinuz, initrd.img), kept in
# CACHE_ROOT/<hash>/ where <hash> covers the package list and this script: a change to either builds a
# new image, an unchanged list reuses the cached one (and older images are removed). Exits 77 (with the reason as the last line)
# when the image cannot be built here (no mmdebstrap, no root, no mirror).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${1:?usage: image.sh CACHE_ROOT}

skip() { echo "$*"; exit 77; }

hash=$(cat "$here/packages" "$here/image.sh" | sha256sum | cut -c1-16)
dir=$cache_root/$hash
if [[ -f $dir/done ]]; then
        echo "$dir"
        exit 0
fi

command -v mmdebstrap >/dev/null || skip "no mmdebstrap: the lab image cannot be built"
command -v mkfs.ext4 >/dev/null || skip "no mkfs.ext4: the lab image cannot be built"
[[ $(id -u) == 0 ]] || skip "building the lab image needs root"
mkdir -p "$cache_root"
exec 9>"$cache_root/lock"
flock 9 # one build at a time; a second caller waits and then finds it done
if [[ -f $dir/done ]]; then
        echo "$dir"
        exit 0
fi

tmp=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pkgs=$(grep -v '^#' "$here/packages" | tr -s '\n' ',' | sed 's/^,//; s/,$//')
mirror=${SEATMETER_LAB_MIRROR:-http://deb.debian.org/debian}

# The guest's own runner: at boot it mounts the disk labelled seatmeter-lab (the project and the
# test script, made fresh for each run) and runs its guest.sh; guest.sh powers the guest off.
runner='[Unit]
Description=seatmeter lab runner
After=multi-user.target
ConditionPathExists=/dev/disk/by-label/smlab

[Service]
Type=oneshot
ExecStart=/bin/sh -c "mkdir -p /lab && mount -o ro LABEL=smlab /lab && exec /bin/bash /lab/guest.sh"
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target'

if ! mmdebstrap --variant=minbase --include="$pkgs" \
        --customize-hook='echo seatmeter-lab > "$1/etc/hostname"' \
        --customize-hook='printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" > "$1/etc/fstab"' \
        --customize-hook='chroot "$1" passwd -d root' \
        --customize-hook="printf '%s\n' '$runner' > \"\$1/etc/systemd/system/seatmeter-lab.service\"" \
        --customize-hook='chroot "$1" systemctl enable seatmeter-lab.service' \
        --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer lxc-net.service' \
        --customize-hook='cp "$1"/boot/vmlinuz-* "$1"/../vmlinuz; cp "$1"/boot/initrd.img-* "$1"/../initrd.img' \
        bookworm "$tmp/root" "$mirror" >"$tmp/mmdebstrap.log" 2>&1; then
        tail -20 "$tmp/mmdebstrap.log" >&2
        grep -q -i -e 'could not resolve' -e 'temporary failure resolving' -e 'failed to fetch' \
                -e 'connection failed' -e 'unable to connect' -e 'network is unreachable' "$tmp/mmdebstrap.log" &&
                skip "the Debian mirror $mirror is unreachable: the lab image cannot be built"
        echo "mmdebstrap failed (log above)" >&2
        exit 1
fi
# 2 GiB: room for the container's overlay and the journals; the base stays untouched (each run
# boots a qcow2 overlay on it).
mkfs.ext4 -q -L smroot -d "$tmp/root" "$tmp/rootfs.img" 2G
mkdir -p "$dir"
mv "$tmp/rootfs.img" "$tmp/vmlinuz" "$tmp/initrd.img" "$dir/"
touch "$dir/done"
# Images of older package lists are 2 GiB each: keep only this one (a guest still running on an old
# one keeps its open file).
for old in "$cache_root"/*/; do
        old=${old%/}
        [[ $old != "$dir" && -f $old/done ]] && rm -rf "$old"
done
echo "$dir"
