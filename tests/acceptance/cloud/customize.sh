#!/bin/sh
# mmdebstrap --customize-hook for tests/acceptance/cloud-image.sh: $1 is the image's root.
# Makes the image boot from /dev/vda2, look for a NoCloud seed only, and report every boot
# from disk on the serial console before powering off.
set -eu
root="$1"

echo domkit-cloud > "$root/etc/hostname"
printf '/dev/vda2 / ext4 rw,errors=remount-ro 0 1\n' > "$root/etc/fstab"
# an empty machine-id: systemd makes a new one on the first boot
: > "$root/etc/machine-id"

# cloud-init: a NoCloud seed (volume label cidata), as virt-install --cloud-init attaches
# for the first boot only. ds-identify (cloud-init's systemd generator) then looks for a
# datasource on every boot and, finding none, leaves cloud-init off for that boot, as on
# real cloud images. Two local-only datasources on purpose: with a single one (or one plus
# None) ds-identify enables cloud-init without looking, which then falls back to the None
# datasource, a new instance, and runs its per-instance modules again.
# No locales package here: cloud-init's locale module would fail (status: error).
mkdir -p "$root/etc/cloud/cloud.cfg.d"
cat > "$root/etc/cloud/cloud.cfg.d/90-domkit.cfg" <<'CFG'
datasource_list: [ NoCloud, ConfigDrive ]
locale: false
CFG

cat > "$root/usr/local/sbin/domkit-boot-report" <<'SH'
#!/bin/sh
# domkit acceptance: one line on the serial console per boot from disk, then power off.
mkdir -p /var/lib/domkit
boots=$(( $(cat /var/lib/domkit/boots 2>/dev/null || echo 0) + 1 ))
echo "$boots" > /var/lib/domkit/boots
runs=$(wc -l < /var/lib/domkit/runcmd 2>/dev/null || echo 0)
status=$(cloud-init status 2>/dev/null | sed -n 's/^status: //p')
instances=$(ls /var/lib/cloud/instances 2>/dev/null | tr '\n' ' ')
if blkid -t LABEL=cidata -o device >/dev/null 2>&1; then seed=attached; else seed=absent; fi
echo "DOMKIT-CLOUD: boot $boots from disk; seed $seed; runcmd has run $runs time(s); cloud-init status: ${status:-unknown}; instances: ${instances:-none}" > /dev/ttyS0
systemctl --no-block poweroff
SH
chmod 0755 "$root/usr/local/sbin/domkit-boot-report"

cat > "$root/etc/systemd/system/domkit-boot-report.service" <<'UNIT'
[Unit]
Description=domkit acceptance: report this boot from disk, then power off
After=multi-user.target cloud-final.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/domkit-boot-report

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/domkit-boot-report.service \
  "$root/etc/systemd/system/multi-user.target.wants/domkit-boot-report.service"
