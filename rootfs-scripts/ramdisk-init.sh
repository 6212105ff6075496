#!/bin/sh
# /init of the rescue ramdisk (BusyBox sh, PID 1; tools/image/ramdisk.mjs puts it there).
#
# Mounts proc, sys and dev, loads the modules the kernel needs to see the disk
# and ext4 (/etc/ap/modules, in dependency order), waits for the board's disk,
# then runs /home/root/install_step1.sh with what the kernel command line asks:
#
#   ap.mode=MODE     install_step1.sh's mode (install, auto, fsck, resize, status, ...).
#                    Without it: `install` on a blank disk (no partition table and
#                    no filesystem on it), else `auto`, the seed's rescue boot
#                    (apply a staged update or roll back, as the journal on p1 says).
#   ap.after=WHAT    after the script: `poweroff`, `reboot`, or (default) a login
#                    on the console for the technician (root / iplinux).
#
# The same ramdisk is the normal system's initramfs (GRUB's entry 1): with
# root=/dev/sdXN on the command line and no ap.mode, it loads the same disk
# modules, checks that rootfs (e2fsck -p, -f -y when preening is not enough),
# mounts it and hands over to its /sbin/init (switch_root).
# A rootfs that cannot be mounted counts as a failed boot of a new image (the
# rescue flow then restores the previous one) or leaves the rescue login.
#
# Everything is logged to /tmp/ramdisk.log, the script's LOGFILE; the script
# itself writes p2/ramdisk.log (served at /manager/ramdisk.log) once p2 exists,
# and this adds the rest of the run's lines there at the end (keep_log).

PATH=/sbin:/usr/sbin:/bin:/usr/bin
export PATH
mkdir -p /proc /sys /dev /tmp /run /mnt
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
[ -e /etc/mtab ] || ln -s /proc/mounts /etc/mtab

LOG=/tmp/ramdisk.log
say() {
	line="$(date -u '+%Y-%m-%dT%H:%M:%SZ') ramdisk: $*"
	echo "$line" >/dev/console
	echo "$line" >>"$LOG"
}

# The lines of this run that p2/ramdisk.log (/manager/ramdisk.log) lacks, appended
# when p2 holds the App Platform's data (its apps folder): this file's own, and
# the script's from before p2 existed (an install), so the log tells the whole run.
keep_log() {
	if ! grep -q ' /mnt/sda2 ' /proc/mounts && [ -b "${PART}2" ]; then
		mkdir -p /mnt/sda2
		mount "${PART}2" /mnt/sda2 2>/dev/null
	fi
	[ -d /mnt/sda2/apps ] || return 0
	touch /mnt/sda2/ramdisk.log
	grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$LOG" | grep -vxF -f /mnt/sda2/ramdisk.log >/tmp/ramdisk.missing
	cat /tmp/ramdisk.missing >>/mnt/sda2/ramdisk.log
}

stop() {
	sync
	umount /mnt/sda2 /mnt/sda1 2>/dev/null
	sync
}

after() {
	case "$AFTER" in
	poweroff) say "powering off"; keep_log; stop; poweroff -f ;;
	reboot) say "rebooting"; keep_log; stop; reboot -f ;;
	esac
	keep_log
	sync
	# The technician's rescue system: a login on the console, again after each logout.
	while :; do
		setsid cttyhack login
		sleep 1
	done
}

MODE=
AFTER=
ROOT=
for word in $(cat /proc/cmdline); do
	case "$word" in
	ap.mode=*) MODE=${word#ap.mode=} ;;
	ap.after=*) AFTER=${word#ap.after=} ;;
	root=*) ROOT=${word#root=} ;;
	esac
done

# The normal boot: the rootfs on $ROOT, its own init. Returns only when it cannot be mounted.
boot_rootfs() {
	n=0
	while [ ! -b "$ROOT" ] && [ $n -lt 100 ]; do
		n=$((n + 1))
		sleep 0.2
	done
	mkdir -p /newroot
	# The rootfs is checked before it is mounted, as a desktop's initramfs does:
	# a power cut leaves at most a journal to replay (preen); what needs more is
	# repaired here, unmounted, rather than met later read-write.
	e2fsck -p "$ROOT" >>"$LOG" 2>&1
	rc=$?
	if [ $rc -ge 4 ]; then
		say "p3: $ROOT needs more than preening (e2fsck status $rc): e2fsck -f -y"
		e2fsck -f -y "$ROOT" >>"$LOG" 2>&1
		rc=$?
		[ $rc -le 1 ] || say "p3: e2fsck could not fix $ROOT (status $rc); mounting it anyway"
	elif [ $rc -eq 1 ]; then
		say "p3: $ROOT repaired by e2fsck -p"
	fi
	if mount -o ro "$ROOT" /newroot 2>>"$LOG"; then
		[ -x /newroot/sbin/init ] || [ -L /newroot/sbin/init ] || { umount /newroot; say "FAILED: $ROOT has no /sbin/init"; return 1; }
		mount --move /dev /newroot/dev
		umount /proc/sys/fs/binfmt_misc 2>/dev/null
		umount /tmp /run /sys /proc
		exec switch_root /newroot /sbin/init
	fi
	say "FAILED: cannot mount the rootfs $ROOT"
	return 1
}

case "$ROOT" in
'' | /dev/ram0) say "rescue system up: kernel $(uname -r)" ;;
*) [ -n "$MODE" ] || NORMAL=1 ;;
esac
while read -r module; do
	[ -n "$module" ] || continue
	insmod "/lib/modules/$(uname -r)/$module" 2>>"$LOG" || say "cannot load $module"
done </etc/ap/modules

. /etc/ap/board.env
# A rollback that is due (journal: failed or restored) is done before any
# normal boot: whoever asked for it may not have managed to switch the boot
# control to the rescue.
if [ -n "${NORMAL:-}" ]; then
	mkdir -p /mnt/sda1
	if mount -o ro "${PART}1" /mnt/sda1 2>>"$LOG"; then
		last=$(grep -E '^[a-z]+ [0-9]+$' /mnt/sda1/update/journal 2>/dev/null | tail -n 1)
		umount /mnt/sda1
		case "${last%% *}" in
		failed | restored)
			say "image ${last##* } failed and the previous one is not back yet: the rescue system restores it first"
			NORMAL=
			MODE=auto
			;;
		esac
	fi
fi
if [ -n "${NORMAL:-}" ]; then
	boot_rootfs
	# Not bootable: a new image that awaited its confirmation has failed (the
	# rescue flow below restores the previous one); otherwise the technician's login.
	mkdir -p /mnt/sda1
	if mount "${PART}1" /mnt/sda1 2>>"$LOG"; then
		last=$(grep -E '^[a-z]+ [0-9]+$' /mnt/sda1/update/journal 2>/dev/null | tail -n 1)
		case "${last%% *}" in
		normal | finished) echo "failed ${last##* }" >>/mnt/sda1/update/journal ;;
		esac
		sync
		umount /mnt/sda1
	fi
	MODE=auto
fi
n=0
while [ ! -b "$DISK" ]; do
	n=$((n + 1))
	if [ $n -gt 100 ]; then
		say "FAILED: no disk $DISK after 20 s; block devices: $(ls /sys/class/block | tr '\n' ' ')"
		after
	fi
	sleep 0.2
done

if [ -z "$MODE" ]; then
	if ! sfdisk -d "$DISK" >/dev/null 2>&1 && [ -z "$(blkid -o value -s TYPE "$DISK" 2>/dev/null)" ]; then
		MODE=install
	else
		MODE=auto
	fi
fi
say "board $BOARD, disk $DISK ($(($(cat "/sys/class/block/${DISK##*/}/size") / 2048)) MiB), mode $MODE"

# An update applied by `auto` ends in the script's own reboot; ap.after=poweroff
# stops the machine there instead (the VM tests read the disk afterwards).
if [ "$AFTER" = poweroff ]; then AP_REBOOT="poweroff -f"; else AP_REBOOT="reboot -f"; fi
export AP_REBOOT
/home/root/install_step1.sh "$LOG" "$MODE"
status=$?
say "install_step1.sh $MODE: status $status"
# A failure's details (the tools' own messages) are in the log only: show them on the console too.
[ $status -eq 0 ] || cat "$LOG" >/dev/console
after
