complete -c domxml-rewrite -l to -d 'Switch to this phase; does nothing when the document is in it already' -r -f -a "install\t'The installer\'s boot'
final\t'Every later boot'"
complete -c domxml-rewrite -l cdrom -d 'Install from this ISO image (or vol=POOL/NAME, a storage volume): a CD-ROM drive with it, booted first (full virtualization)' -r
complete -c domxml-rewrite -l kernel -d 'Install by booting this kernel directly (direct kernel boot, Xen paravirt included): a path on the host; domxml-gen -c also takes vol=POOL/NAME and writes its host path' -r
complete -c domxml-rewrite -l initrd -d 'The initrd for --kernel (a host path; like --kernel, vol=POOL/NAME with -c)' -r
complete -c domxml-rewrite -l cmdline -d 'The kernel command line for --kernel' -r
complete -c domxml-rewrite -l install-disk -d 'Extra install-only media, e.g. an unattended or cloud-init seed: PATH[,device=cdrom|disk|floppy][,bus=BUS][,target=DEV] (repeatable; cdrom for *.iso)' -r
complete -c domxml-rewrite -l boot -d 'Boot order of <os>: DEV[,DEV...] from hd, cdrom, network, fd; removes per-device <boot order> (libvirt refuses both at once)' -r -f -a "hd\t''
cdrom\t''
network\t''
fd\t''"
complete -c domxml-rewrite -l bootloader -d 'Set the host-side bootloader (Xen: pygrub); an empty value removes it' -r
complete -c domxml-rewrite -l bootloader-args -d 'Arguments for --bootloader; an empty value removes them' -r
complete -c domxml-rewrite -l on-reboot -d 'What a guest reboot does' -r -f -a "destroy\t'Stop the guest'
restart\t'Start it again'
preserve\t'Keep it as it is, stopped'
rename-restart\t'Rename it and start a new one'
coredump-destroy\t'Dump core, then stop'
coredump-restart\t'Dump core, then restart'"
complete -c domxml-rewrite -l on-poweroff -d 'What a guest power-off does' -r -f -a "destroy\t'Stop the guest'
restart\t'Start it again'
preserve\t'Keep it as it is, stopped'
rename-restart\t'Rename it and start a new one'
coredump-destroy\t'Dump core, then stop'
coredump-restart\t'Dump core, then restart'"
complete -c domxml-rewrite -l on-crash -d 'What a guest crash does' -r -f -a "destroy\t'Stop the guest'
restart\t'Start it again'
preserve\t'Keep it as it is, stopped'
rename-restart\t'Rename it and start a new one'
coredump-destroy\t'Dump core, then stop'
coredump-restart\t'Dump core, then restart'"
complete -c domxml-rewrite -l eject -d 'Eject the media of cdrom/floppy TARGET (the drive stays). Repeatable' -r
complete -c domxml-rewrite -l insert-media -d 'Put PATH into cdrom/floppy TARGET. Repeatable' -r
complete -c domxml-rewrite -l remove-device -d 'Remove the device with disk target or MAC address TARGET. Repeatable' -r
complete -c domxml-rewrite -l swap -d 'Switch to the recorded phase, whichever it is (its own inverse)'
complete -c domxml-rewrite -l pxe -d 'Install from the network: boot the first interface first'
complete -c domxml-rewrite -l print-diff -d 'Print a unified diff of the change instead of the document'
complete -c domxml-rewrite -l check -d 'Print nothing (but --print-diff); exit 1 if the document would change, 0 if not'
complete -c domxml-rewrite -s h -l help -d 'Print help (see more with \'--help\')'
complete -c domxml-rewrite -s V -l version -d 'Print version'
