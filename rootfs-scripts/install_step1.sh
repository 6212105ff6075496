#!/bin/sh
# install_step1.sh LOGFILE MODE
#
# The rescue system's installer (BusyBox sh: the ramdisk has no Node.js), and
# the technician's tool the seed describes (/home/root/install_step1.sh log.txt resize).
#
#   install   partition an empty disk per the board, make the filesystems and
#             swap; with an installation medium (a filesystem labelled apinstall,
#             or the folder $AP_INSTALL_FROM) holding an image, also write its
#             rootfs to p3, its kernel, ramdisk and rootfs image to p1, the
#             rootfs's supervisor to p2 (/apps/manager), GRUB (grub boards) and
#             boot the App Platform next; without one, boot the rescue system
#             next (the first image then comes as an update)
#   update    apply the image the supervisor staged in p1/update: check it, write
#             the rootfs to p3, e2fsck it, put the new kernel and ramdisk in place
#             (the previous ones and the previous rootfs image kept in p1/prev),
#             boot control back to normal
#   rollback  restore p1/prev (after a new image failed to boot three times)
#   resize    after the virtual disk was enlarged: move p3 and p4 to the end and
#             grow p2 and its filesystem, keeping its data
#   auto      what the rescue does at boot: update or rollback when the journal
#             asks for one, else nothing (a technician's rescue boot)
#   boot normal|rescue   set the boot control
#   status    partitions, filesystems, boot control, label, journal
#   layout    the partition table install would write on this disk (nothing written)
#   fsck      the seed's e2fsck -p -f of p2 and p3, then back to normal
#             (auto does it when `ap ctl fsck` asked for it)
#
# Every step is journaled on p1 before it is taken, and each is safe to take
# again: killed anywhere, the script is simply run again. It logs to LOGFILE,
# to p2/ramdisk.log (served at /manager/ramdisk.log) and to
# p2/apps/install_step1.log, whose last line is "finished" on success.
#
# The board comes from $AP_BOARD_ENV (default /etc/ap/board.env): BOARD, DISK,
# PART (partition N is ${PART}N), BOOT_CONTROL (grub|gateway), NORMAL_CMDLINE,
# P1_FS (vfat|ext2), P1_MB, P3_MB, P4_MB. p1 and p2 are mounted at $MNT_P1 and
# $MNT_P2 (default /mnt/sda1, /mnt/sda2) when they are not already.

set -u
LOGFILE=${1:-}
MODE=${2:-}
ARG=${3:-}

usage() {
	echo "usage: $0 LOGFILE install|update|rollback|resize|auto|status|layout|fsck|boot normal|rescue" >&2
	exit 2
}
[ -n "$LOGFILE" ] && [ -n "$MODE" ] || usage

BOARD_ENV=${AP_BOARD_ENV:-/etc/ap/board.env}
if [ ! -r "$BOARD_ENV" ]; then
	echo "$0: no board description at $BOARD_ENV" >&2
	exit 2
fi
# shellcheck disable=SC1090
. "$BOARD_ENV"
MNT_P1=${MNT_P1:-/mnt/sda1}
MNT_P2=${MNT_P2:-/mnt/sda2}
REBOOT=${AP_REBOOT:-reboot -f}
SECTOR_MB=2048 # 512-byte sectors per MiB

log() {
	line="$(date -u '+%Y-%m-%dT%H:%M:%SZ') $*"
	echo "$line"
	echo "$line" >>"$LOGFILE"
	if [ -d "$MNT_P2/apps" ]; then
		echo "$line" >>"$MNT_P2/ramdisk.log"
		echo "$line" >>"$MNT_P2/apps/install_step1.log"
	fi
}

fail() {
	log "FAILED: $*"
	exit 1
}

# The last line of install_step1.log on success, as the seed tells technicians to look for.
finished() {
	log "$MODE done"
	echo finished >>"$LOGFILE"
	[ -d "$MNT_P2/apps" ] && echo finished >>"$MNT_P2/apps/install_step1.log"
	sync
}

is_mounted() {
	grep -q " $1 " /proc/mounts
}

mount_p1() {
	is_mounted "$MNT_P1" && return 0
	mkdir -p "$MNT_P1"
	# ext2 has no journal: after a power cut it is checked before it is written to.
	if [ "$P1_FS" = ext2 ] && [ -n "$(fs_type "${PART}1")" ]; then
		e2fsck -p "${PART}1" >>"$LOGFILE" 2>&1
		[ $? -le 1 ] || e2fsck -f -y "${PART}1" >>"$LOGFILE" 2>&1
	fi
	mount "${PART}1" "$MNT_P1" || fail "cannot mount ${PART}1 on $MNT_P1"
}

mount_p2() {
	is_mounted "$MNT_P2" && return 0
	mkdir -p "$MNT_P2"
	mount "${PART}2" "$MNT_P2" || fail "cannot mount ${PART}2 on $MNT_P2"
	mkdir -p "$MNT_P2/apps"
}

# --- the journal on p1: "<step> <label>" per line, synced before the step ---

journal() {
	echo "$1 $2" >>"$MNT_P1/update/journal"
	sync
	# Tests cut the power here: AP_TEST_CUT=<step> kills the script right after journaling it.
	if [ "${AP_TEST_CUT:-}" = "$1" ]; then kill -9 $$; fi
}

has_step() {
	[ -f "$MNT_P1/update/journal" ] && grep -q "^$1 $2\$" "$MNT_P1/update/journal"
}

last_step() {
	[ -f "$MNT_P1/update/journal" ] || return 0
	grep -E '^[a-z]+ [0-9]+$' "$MNT_P1/update/journal" | tail -n 1
}

# --- files replaced whole: written beside, synced, renamed ---

put_file() { # SOURCE TARGET
	cp "$1" "$2.new" || fail "cannot copy $1"
	sync
	mv "$2.new" "$2" || fail "cannot rename $2.new"
	sync
}

write_text() { # TARGET TEXT
	printf '%s' "$2" >"$1.new" || fail "cannot write $1.new"
	sync
	mv "$1.new" "$1" || fail "cannot rename $1.new"
	sync
}

# --- boot control, the same files the supervisor writes (src/boot) ---

set_boot() { # normal|rescue
	if [ "$BOOT_CONTROL" = grub ]; then
		if [ "$1" = rescue ]; then default=0; else default=1; fi
		mkdir -p "$MNT_P1/grub"
		# The App Platform's entry boots through the same ramdisk, as its initramfs
		# (the disk and ext4 drivers are modules of the VM's kernel).
		write_text "$MNT_P1/grub/grub.cfg" "# Written by the App Platform: default 0 boots the rescue/setup entry, 1 the App Platform.
set default=$default
set timeout=3
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry \"rescue/setup\" {
  linux /kernel root=/dev/ram0 ramdisk_size=100000 console=tty0 console=ttyS0
  initrd /ramdisk.ext2.xz
}
menuentry \"App Platform\" {
  linux /kernel $NORMAL_CMDLINE rootwait console=tty0 console=ttyS0
  initrd /ramdisk.ext2.xz
}
"
	elif [ "$1" = rescue ]; then
		write_text "$MNT_P1/bootsettings" "cmdline=root=/dev/ram0
initrd=ramdisk.ext2.xz
ramdisk_size=100000
"
	else
		write_text "$MNT_P1/bootsettings" "cmdline=$NORMAL_CMDLINE
initrd=
ramdisk_size=
"
	fi
	log "boot control: $1"
}

boot_mode() {
	if [ "$BOOT_CONTROL" = grub ]; then
		grep -q '^set default=1$' "$MNT_P1/grub/grub.cfg" 2>/dev/null && echo normal || echo rescue
	else
		grep -q '^cmdline=.*ram0' "$MNT_P1/bootsettings" 2>/dev/null && echo rescue ||
			{ grep -q '^cmdline=root=' "$MNT_P1/bootsettings" 2>/dev/null && echo normal || echo rescue; }
	fi
}

# --- writing a filesystem image to p3 and checking it ---

# A rootfs image is an ext4 image, as is or compressed with zstd (told by its first bytes).
write_rootfs() { # IMAGE
	log "writing $1 to ${PART}3"
	if [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 28b52ffd ]; then
		(
			set -o pipefail
			zstd -dcq "$1" | dd of="${PART}3" bs=1M conv=fsync 2>>"$LOGFILE"
		) || fail "writing ${PART}3 failed (zstd)"
	else
		dd if="$1" of="${PART}3" bs=1M conv=fsync 2>>"$LOGFILE" || fail "writing ${PART}3 failed"
	fi
	sync
	log "checking ${PART}3 (e2fsck)"
	e2fsck -f -y "${PART}3" >>"$LOGFILE" 2>&1
	rc=$?
	[ $rc -le 1 ] || fail "e2fsck of ${PART}3 found errors it could not fix (status $rc)"
}

# --- update ---

do_update() {
	mount_p1
	mount_p2
	dir="$MNT_P1/update"
	[ -f "$dir/label" ] || fail "no image is staged in $dir"
	label=$(tr -dc 0-9 <"$dir/label")
	log "applying image $label"
	journal apply "$label"
	# Once p3 is written the staged files are moved into place one by one: checked before that only.
	if ! has_step rootfs "$label"; then log "checking the staged files"; fi
	if ! has_step rootfs "$label" && ! (cd "$dir" && sha256sum -c files.sha256 >>"$LOGFILE" 2>&1); then
		# Nothing on p3 was touched yet: back to the running system, which
		# reports it (journal: failed, rolledback, nothing restored). In the
		# rescue's own run (auto) the box boots that system by itself: the
		# technician is not needed for a download that a cut or the disk spoiled.
		log "the staged image $label is damaged; nothing was changed"
		journal failed "$label"
		journal rolledback "$label"
		set_boot normal
		log "FAILED: staged files do not match their checksums"
		if [ "$MODE" = auto ] && [ -z "${AP_NO_REBOOT:-}" ]; then
			log "booting the running image again"
			reboot_now
		fi
		exit 1
	fi
	if ! has_step rootfs "$label"; then
		write_rootfs "$dir/rootfs.img"
		journal rootfs "$label"
	fi
	journal fsck "$label"
	if ! has_step kernel "$label"; then
		log "putting the kernel, ramdisk and rootfs image of $label in place (the running ones kept in $MNT_P1/prev)"
		save_prev
		# Renamed into place (p1 holds two rootfs images, not three): kernel and
		# ramdisk replace theirs in one step each, so GRUB always finds a pair.
		for f in kernel ramdisk.ext2.xz rootfs.img; do
			if [ -f "$dir/$f" ]; then
				mv "$dir/$f" "$MNT_P1/$f" || fail "cannot move $f into place"
				sync
			fi
		done
		journal kernel "$label"
	fi
	set_boot normal
	journal normal "$label"
	journal finished "$label"
	finished
}

# The running image kept in p1/prev for a rollback: kernel and ramdisk copied
# (the boot needs them where they are), the rootfs image moved. The older prev
# goes first; each step is safe to take again.
save_prev() {
	[ -f "$dir/prev-saved" ] && return 0
	current=$(cat "$MNT_P1/label" 2>/dev/null | tr -dc 0-9)
	# A prev of another label is the older image's; one of this label (or of none,
	# on a box without a label) is this run's own from before a cut: kept.
	if [ ! -d "$MNT_P1/prev" ] || [ "$(cat "$MNT_P1/prev/label" 2>/dev/null | tr -dc 0-9)" != "$current" ]; then
		rm -rf "$MNT_P1/prev.new"
		mkdir -p "$MNT_P1/prev.new"
		[ -f "$MNT_P1/label" ] && cp "$MNT_P1/label" "$MNT_P1/prev.new/label"
		sync
		rm -rf "$MNT_P1/prev"
		mv "$MNT_P1/prev.new" "$MNT_P1/prev" || fail "cannot make $MNT_P1/prev"
		sync
	fi
	for f in kernel ramdisk.ext2.xz; do
		[ -f "$MNT_P1/$f" ] && [ ! -f "$MNT_P1/prev/$f" ] && put_file "$MNT_P1/$f" "$MNT_P1/prev/$f"
	done
	if [ -f "$MNT_P1/rootfs.img" ] && [ ! -f "$MNT_P1/prev/rootfs.img" ]; then
		mv "$MNT_P1/rootfs.img" "$MNT_P1/prev/rootfs.img" || fail "cannot keep rootfs.img"
	fi
	: >"$dir/prev-saved"
	sync
}

# --- rollback ---

do_rollback() {
	mount_p1
	mount_p2
	label=$(last_step | cut -d' ' -f2)
	if ! has_step restored "${label:-0}"; then
		[ -f "$MNT_P1/prev/rootfs.img" ] || fail "no previous image in $MNT_P1/prev to go back to"
		log "image ${label:-?} did not boot; restoring the previous image"
		write_rootfs "$MNT_P1/prev/rootfs.img"
		journal restored "${label:-0}"
	fi
	for f in kernel ramdisk.ext2.xz; do
		[ -f "$MNT_P1/prev/$f" ] && put_file "$MNT_P1/prev/$f" "$MNT_P1/$f"
	done
	if [ -f "$MNT_P1/prev/rootfs.img" ]; then
		mv "$MNT_P1/prev/rootfs.img" "$MNT_P1/rootfs.img" || fail "cannot move the previous rootfs.img back"
		sync
	fi
	set_boot normal
	journal rolledback "${label:-0}"
	finished
}

# --- install: partition and format an empty disk ---

disk_sectors() {
	cat "/sys/class/block/$(basename "$DISK")/size"
}

# The board's layout for a disk of $1 sectors: p1 at 1 MiB, p2 the rest, p3 and
# p4 at the end (a MiB left free there), all aligned to MiB. Sets p*_start, p*_size.
compute_layout() {
	total=$1
	p1_start=$SECTOR_MB
	p1_size=$((P1_MB * SECTOR_MB))
	p4_size=$((P4_MB * SECTOR_MB))
	p3_size=$((P3_MB * SECTOR_MB))
	end=$(((total - SECTOR_MB) / SECTOR_MB * SECTOR_MB))
	p4_start=$((end - p4_size))
	p3_start=$((p4_start - p3_size))
	p2_start=$((p1_start + p1_size))
	p2_size=$((p3_start - p2_start))
	[ "$p2_size" -gt $((256 * SECTOR_MB)) ] || fail "the disk is too small for the $BOARD layout"
}

# The partition table for sfdisk, after compute_layout.
layout_table() {
	if [ "$P1_FS" = vfat ]; then p1_type=c; else p1_type=83; fi
	cat <<EOF
label: dos
unit: sectors

start=$p1_start, size=$p1_size, type=$p1_type, bootable
start=$p2_start, size=$p2_size, type=83
start=$p3_start, size=$p3_size, type=83
start=$p4_start, size=$p4_size, type=82
EOF
}

# Makes the kernel see the partition table just written: a re-read, and where
# the kernel cannot parse it itself (or a re-read is refused), partx adds and
# updates the partitions from user space.
# Makes the kernel see the partition table just written: a re-read, and where
# the kernel cannot parse it itself (or refuses, p1 being mounted), partx adds
# and updates the partitions from user space. Moving p3 while p2 grows into its
# old place can take partx more than one round.
reread() {
	blockdev --rereadpt "$DISK" 2>/dev/null
	round=0
	while [ $round -lt 5 ]; do
		partx -u "$DISK" 2>/dev/null
		partx -a "$DISK" 2>/dev/null
		if [ -b "${PART}1" ] && [ -b "${PART}2" ] && [ -b "${PART}3" ] && [ -b "${PART}4" ]; then
			return 0
		fi
		sleep 0.2
		round=$((round + 1))
	done
	fail "the kernel does not see the partitions of $DISK"
}

fs_type() {
	blkid -o value -s TYPE "$1" 2>/dev/null
}

do_install() {
	log "installing the $BOARD layout on $DISK"
	compute_layout "$(disk_sectors)"
	# A disk that has our table already (a run that was cut) keeps it.
	if ! sfdisk -d "$DISK" 2>/dev/null | grep -q "^${PART}4 .*type=82"; then
		layout_table | sfdisk -q "$DISK" >>"$LOGFILE" 2>&1 || fail "partitioning $DISK failed"
	fi
	reread
	# p1 first: from then on the journal lives there.
	if [ "$(fs_type "${PART}1")" != "$P1_FS" ] || ! { mount_p1 && [ -f "$MNT_P1/install.journal" ]; }; then
		is_mounted "$MNT_P1" && umount "$MNT_P1"
		log "making the $P1_FS filesystem on ${PART}1"
		if [ "$P1_FS" = vfat ]; then
			mkfs.vfat -F 32 -n BOOT "${PART}1" >>"$LOGFILE" 2>&1 || fail "mkfs.vfat ${PART}1 failed"
		else
			mke2fs -q -F -t ext2 -L boot "${PART}1" >>"$LOGFILE" 2>&1 || fail "mke2fs ${PART}1 failed"
		fi
		mount_p1
		echo p1 >"$MNT_P1/install.journal"
		sync
	fi
	for n in 2 3; do
		if ! grep -q "^p$n\$" "$MNT_P1/install.journal"; then
			log "making the ext4 filesystem on ${PART}$n"
			mkfs.ext4 -q -F -L "p$n" "${PART}$n" >>"$LOGFILE" 2>&1 || fail "mkfs.ext4 ${PART}$n failed"
			echo "p$n" >>"$MNT_P1/install.journal"
			sync
		fi
	done
	if ! grep -q '^p4$' "$MNT_P1/install.journal"; then
		log "making swap on ${PART}4"
		mkswap -L swap "${PART}4" >>"$LOGFILE" 2>&1 || fail "mkswap ${PART}4 failed"
		echo p4 >>"$MNT_P1/install.journal"
		sync
	fi
	mount_p2
	mkdir -p "$MNT_P1/update" "$MNT_P2/apps"
	if ! find_source; then
		log "no installation medium (a filesystem labelled apinstall): the first image comes as an update"
		set_boot rescue # nothing to boot on p3 yet
		finished
		return 0
	fi
	install_image
	set_boot normal
	finished
}

# The installation medium: $AP_INSTALL_FROM, or the filesystem labelled
# apinstall mounted at $MNT_SRC. Sets SRC; fails when it holds no image for this board.
MNT_SRC=${MNT_SRC:-/mnt/install}
find_source() {
	SRC=${AP_INSTALL_FROM:-}
	if [ -z "$SRC" ]; then
		medium=$(blkid -L apinstall 2>/dev/null)
		[ -n "$medium" ] || return 1
		mkdir -p "$MNT_SRC"
		is_mounted "$MNT_SRC" || mount -o ro "$medium" "$MNT_SRC" || fail "cannot mount the installation medium $medium"
		SRC=$MNT_SRC
	fi
	[ -f "$SRC/manifest.json" ] && [ -f "$SRC/files.sha256" ] && [ -f "$SRC/label" ] || fail "the installation medium $SRC holds no image (manifest.json, files.sha256, label)"
	grep -q "\"board\": *\"$BOARD\"" "$SRC/manifest.json" || fail "the image on $SRC is not for the $BOARD board"
	return 0
}

# The image from the medium onto the fresh disk: checked, files to p1, rootfs
# to p3, the rootfs's supervisor to p2, GRUB. Journaled in install.journal.
install_image() {
	label=$(tr -dc 0-9 <"$SRC/label")
	log "installing image $label from $SRC"
	if ! grep -q "^files $label\$" "$MNT_P1/install.journal"; then
		log "checking the image's files"
		(cd "$SRC" && sha256sum -c files.sha256 >>"$LOGFILE" 2>&1) || fail "the image on $SRC is damaged (sha256sum -c files.sha256)"
		for f in kernel ramdisk.ext2.xz rootfs.img manifest.json manifest.sig; do
			[ -f "$SRC/$f" ] && put_file "$SRC/$f" "$MNT_P1/$f"
		done
		echo "files $label" >>"$MNT_P1/install.journal"
		sync
	fi
	if ! grep -q "^rootfs $label\$" "$MNT_P1/install.journal"; then
		write_rootfs "$MNT_P1/rootfs.img"
		echo "rootfs $label" >>"$MNT_P1/install.journal"
		sync
	fi
	# The first supervisor: the rootfs's factory copy, put on p2 as /apps/manager.
	if [ ! -f "$MNT_P2/apps/manager/ap.js" ]; then
		mkdir -p /mnt/p3
		mount -o ro "${PART}3" /mnt/p3 || fail "cannot mount ${PART}3"
		rm -rf "$MNT_P2/apps/manager.new"
		cp -a /mnt/p3/usr/lib/ap/manager "$MNT_P2/apps/manager.new" || { umount /mnt/p3; fail "cannot copy the supervisor to p2"; }
		umount /mnt/p3
		sync
		mv "$MNT_P2/apps/manager.new" "$MNT_P2/apps/manager" || fail "cannot put the supervisor in place"
		sync
		log "supervisor put in $MNT_P2/apps/manager"
	fi
	if [ "$BOOT_CONTROL" = grub ]; then
		grub=${AP_GRUB_DIR:-/usr/lib/ap/grub}
		[ -f "$grub/boot.img" ] && [ -f "$grub/core.img" ] || fail "no GRUB images in $grub"
		log "installing GRUB on $DISK"
		# boot.img's code only (440 bytes: the partition table stays), core.img from sector 1.
		dd if="$grub/boot.img" of="$DISK" bs=440 count=1 conv=notrunc,fsync 2>>"$LOGFILE" || fail "writing GRUB's boot sector failed"
		dd if="$grub/core.img" of="$DISK" bs=512 seek=1 conv=notrunc,fsync 2>>"$LOGFILE" || fail "writing GRUB's core image failed"
	fi
	write_text "$MNT_P1/label" "$label
"
}

# --- resize: after the virtual disk grew, p3 and p4 to the end, p2 grown ---

do_resize() {
	mount_p1
	compute_layout "$(disk_sectors)"
	p2_have=$(sfdisk -d "$DISK" | grep "^${PART}2 " | sed 's/.*size= *\([0-9]*\).*/\1/')
	[ -f "$MNT_P1/rootfs.img" ] || fail "no rootfs image on p1 to put on the moved p3"
	mkdir -p "$MNT_P1/update"
	if [ "$p2_have" != "$p2_size" ]; then
		[ "$p2_have" -lt "$p2_size" ] || fail "the disk did not grow (p2 has $p2_have sectors, the layout $p2_size)"
		log "moving p3 and p4 to the end of $DISK and growing p2 to $((p2_size / SECTOR_MB)) MiB"
		is_mounted "$MNT_P2" && umount "$MNT_P2"
		echo "table $p2_size" >>"$MNT_P1/update/resize.journal"
		sync
		layout_table | sfdisk -q --no-reread "$DISK" >>"$LOGFILE" 2>&1 || fail "rewriting the partition table failed"
		reread
	fi
	# Each step again on a run after a cut: the data of p2 is never moved, only its end.
	echo "rootfs $p2_size" >>"$MNT_P1/update/resize.journal"
	sync
	write_rootfs "$MNT_P1/rootfs.img"
	echo "swap $p2_size" >>"$MNT_P1/update/resize.journal"
	sync
	log "making swap on the moved p4"
	mkswap -L swap "${PART}4" >>"$LOGFILE" 2>&1 || fail "mkswap ${PART}4 failed"
	is_mounted "$MNT_P2" && umount "$MNT_P2"
	echo "grow $p2_size" >>"$MNT_P1/update/resize.journal"
	sync
	log "growing the filesystem on ${PART}2"
	e2fsck -f -y "${PART}2" >>"$LOGFILE" 2>&1
	[ $? -le 1 ] || fail "e2fsck ${PART}2 failed"
	resize2fs "${PART}2" >>"$LOGFILE" 2>&1 || fail "resize2fs ${PART}2 failed"
	mount_p2
	rm -f "$MNT_P1/update/resize.journal"
	set_boot normal
	finished
}

# The seed's repair of a broken file system: e2fsck -p -f on p2 and p3, unmounted.
do_fsck() {
	mount_p1
	is_mounted "$MNT_P2" && umount "$MNT_P2"
	worst=0
	for n in 2 3; do
		log "checking ${PART}$n (e2fsck -p -f)"
		e2fsck -p -f "${PART}$n" >>"$LOGFILE" 2>&1
		rc=$?
		log "e2fsck ${PART}$n: status $rc"
		[ $rc -gt $worst ] && worst=$rc
	done
	rm -f "$MNT_P1/update/fsck-request"
	sync
	mount_p2
	[ $worst -le 1 ] || fail "e2fsck could not fix every error (status $worst): see $LOGFILE"
	set_boot normal
	finished
}

do_status() {
	mount_p1
	echo "board:        $BOARD ($DISK)"
	echo "boot control: $(boot_mode) ($BOOT_CONTROL)"
	echo "label:        $(cat "$MNT_P1/label" 2>/dev/null || echo none)"
	echo "journal:      $(last_step)"
	sfdisk -d "$DISK" 2>/dev/null
	blkid "${PART}1" "${PART}2" "${PART}3" "${PART}4" 2>/dev/null
}

# Before the rescue reboots by itself: the filesystems unmounted, so that the
# next boot finds them clean (p1 is ext2, without a journal).
reboot_now() {
	sync
	umount "$MNT_P2" 2>/dev/null
	umount "$MNT_P1" 2>/dev/null
	sync
	$REBOOT
}

case "$MODE" in
install) do_install ;;
update) do_update ;;
rollback) do_rollback ;;
resize)
	do_resize
	[ -n "${AP_NO_REBOOT:-}" ] || reboot_now
	;;
status) do_status ;;
fsck) do_fsck ;;
layout)
	# What install would write on this disk, written nowhere.
	compute_layout "$(disk_sectors)"
	layout_table
	;;
boot)
	[ "$ARG" = normal ] || [ "$ARG" = rescue ] || usage
	mount_p1
	set_boot "$ARG"
	;;
auto)
	mount_p1
	if [ -f "$MNT_P1/update/fsck-request" ]; then
		do_fsck
		[ -n "${AP_NO_REBOOT:-}" ] || reboot_now
		exit 0
	fi
	case "$(last_step | cut -d' ' -f1)" in
	staged | rescue | apply | rootfs | fsck | kernel) do_update ;;
	failed | restored) do_rollback ;;
	*)
		log "nothing to apply: rescue system for the technician"
		exit 0
		;;
	esac
	# Applied: boot the normal system.
	[ -n "${AP_NO_REBOOT:-}" ] || reboot_now
	;;
*) usage ;;
esac
