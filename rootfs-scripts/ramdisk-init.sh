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
for word in $(cat /proc/cmdline); do
	case "$word" in
	ap.mode=*) MODE=${word#ap.mode=} ;;
	ap.after=*) AFTER=${word#ap.after=} ;;
	esac
done

say "rescue system up: kernel $(uname -r)"
while read -r module; do
	[ -n "$module" ] || continue
	insmod "/lib/modules/$(uname -r)/$module" 2>>"$LOG" || say "cannot load $module"
done </etc/ap/modules

. /etc/ap/board.env
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
