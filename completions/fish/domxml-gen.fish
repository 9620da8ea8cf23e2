complete -c domxml-gen -l spec -d 'Read settings from this JSON object (- for stdin); flags given too override it' -r -F
complete -c domxml-gen -l phase -d 'Which phase to print: final (to define; the default) or install (to boot once)' -r -f -a "install\t'The installer\'s one-off config'
final\t'The config every later boot uses'"
complete -c domxml-gen -l name -d 'Guest name' -r
complete -c domxml-gen -l uuid -d 'Guest UUID; a random one when absent (printed in the XML, so every phase shares it)' -r
complete -c domxml-gen -l title -d 'Short title' -r
complete -c domxml-gen -l description -d 'Free-form description' -r
complete -c domxml-gen -l type -d 'Hypervisor type' -r -f -a "kvm\t'KVM-accelerated QEMU'
qemu\t'QEMU\'s own emulation (TCG)'
xen\t'Xen'
test\t'libvirt\'s test driver'"
complete -c domxml-gen -l arch -d 'Guest architecture [default: x86_64]' -r
complete -c domxml-gen -l machine -d 'Machine type (pc, q35, virt, ...); libvirt\'s default when absent' -r
complete -c domxml-gen -l memory -d 'Memory: a number of MiB, or with a unit (512MiB, 2GiB, 1G) [default: 1024 MiB]' -r
complete -c domxml-gen -l vcpus -d 'Virtual CPUs [default: 1]' -r
complete -c domxml-gen -l os -d 'The guest\'s operating system, as an osinfo short-id (debian11, fedora36, win11, ...; `osinfo-query os` lists them), or "detect" to find it from the install ISO\'s volume descriptor (--cdrom), as virt-install does. It picks the machine (q35 where supported), firmware (UEFI where required), a TPM where required, virtio or SATA/e1000e devices, the video card, a virtio RNG, and memory and vCPUs (refusing less than the OS\'s minimum), and is recorded in libosinfo\'s metadata' -r
complete -c domxml-gen -l firmware -d 'Firmware [default: uefi where the OS requires it or with --secure-boot, else the hypervisor\'s (bios)]. UEFI goes through libvirt\'s firmware autoselection, and libvirt keeps the guest\'s NVRAM across the install and final boots' -r -f -a "bios\t'Legacy BIOS'
uefi\t'UEFI (libvirt picks the firmware files)'"
complete -c domxml-gen -l cpu -d 'CPU: host-passthrough, maximum, host-model, or a CPU model by name (Skylake-Client, EPYC, ...) [default: host-passthrough under KVM; maximum under QEMU\'s emulation (--type qemu), so guests built for x86-64-v2 and later boot there too]' -r
complete -c domxml-gen -l features -d 'Hypervisor features, comma-separated, from: acpi, apic, pae, hap, viridian, privnet, pvspinlock, vmcoreinfo, smm, gic [default: acpi,apic on x86; acpi elsewhere; none for Xen paravirt]; "none" for none' -r
complete -c domxml-gen -l disk -d 'A disk: PATH[,bus=BUS][,format=raw|qcow2][,device=disk|cdrom|floppy|lun] [,target=DEV][,readonly]. Repeatable; the first one is the boot disk. PATH may be vol=POOL/NAME, a libvirt storage volume (dom-vol makes them); its format is the volume\'s with -c, else qcow2 for a name ending in .qcow2, else raw' -r
complete -c domxml-gen -l network -d 'A network interface: network=NAME | bridge=BR | user | none, then [,model=M][,mac=MAC]. Repeatable; MACs are derived from the UUID when not given' -r
complete -c domxml-gen -l graphics -d 'Graphics, with a USB tablet and a video card [default: none: a serial console instead, see --serial]' -r -f -a "none\t'No graphics'
vnc\t'VNC'
spice\t'SPICE'"
complete -c domxml-gen -l serial -d 'A serial port: pty (log=PATH keeps a copy of its output), or file=PATH (its output kept in PATH: the same pty with a log, so that `virsh console` and dom-wait-shutdown\'s --expect, --fail-on and --console-log still read it). The log is appended to, never truncated, so the installer\'s output survives later boots. Repeatable. [default with --graphics none and neither --serial nor --console: a pty serial port with a console on it]' -r
complete -c domxml-gen -s c -l connect -d 'Choose from this host\'s domain capabilities: kvm where it has KVM (else qemu), the machine, UEFI and secure boot where its firmware allows (refused where not), the CPU mode and the TPM emulator. Without -c nothing connects anywhere (not even to $LIBVIRT_DEFAULT_URI). Not read from --spec' -r
complete -c domxml-gen -l bootloader -d 'The final config\'s host-side bootloader (Xen paravirt: pygrub)' -r
complete -c domxml-gen -l bootloader-args -d 'Arguments for --bootloader' -r
complete -c domxml-gen -l cdrom -d 'Install from this ISO image (or vol=POOL/NAME, a storage volume): a CD-ROM drive with it, booted first (full virtualization)' -r
complete -c domxml-gen -l kernel -d 'Install by booting this kernel directly (direct kernel boot, Xen paravirt included): a path on the host; domxml-gen -c also takes vol=POOL/NAME and writes its host path' -r
complete -c domxml-gen -l initrd -d 'The initrd for --kernel (a host path; like --kernel, vol=POOL/NAME with -c)' -r
complete -c domxml-gen -l cmdline -d 'The kernel command line for --kernel' -r
complete -c domxml-gen -l install-disk -d 'Extra install-only media, e.g. an unattended or cloud-init seed: PATH[,device=cdrom|disk|floppy][,bus=BUS][,target=DEV] (repeatable; cdrom for *.iso)' -r
complete -c domxml-gen -l extra-args -d 'Arguments appended to the install kernel\'s command line (virt-install\'s --extra-args): after --cmdline, or after the boot menu\'s arguments that `dom-media extract` puts in a spec, so they need not be typed again (auto=true priority=critical, inst.ks=file:/ks.cfg). Needs --kernel' -r
complete -c domxml-gen -l secure-boot -d 'UEFI secure boot, enforcing, with Microsoft\'s keys enrolled (implies --firmware uefi, a q35 machine and SMM) [default: where the OS requires it (win11)]'
complete -c domxml-gen -l no-secure-boot -d 'No secure boot, not even where the OS requires it'
complete -c domxml-gen -l paravirt -d 'Xen paravirtualized guest (<os><type>xen</type>); boots --kernel to install and --bootloader afterwards (without one, libvirt boots pygrub: its default for a PV guest that names neither a kernel nor a bootloader)'
complete -c domxml-gen -l console -d 'Add a pty console (on the first serial port when there is one)'
complete -c domxml-gen -l tpm -d 'An emulated TPM 2.0 (swtpm) [default: where the OS requires one (win11), and with -c for a UEFI guest on a host with the TPM emulator, as virt-install does]'
complete -c domxml-gen -l no-tpm -d 'No TPM, not even a default one'
complete -c domxml-gen -l pxe -d 'Install from the network: boot the first interface first'
complete -c domxml-gen -s h -l help -d 'Print help (see more with \'--help\')'
complete -c domxml-gen -s V -l version -d 'Print version'
