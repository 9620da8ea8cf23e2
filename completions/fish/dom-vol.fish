# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dom_vol_global_optspecs
    string join \n c/connect= h/help V/version
end

function __fish_dom_vol_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dom_vol_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dom_vol_using_subcommand
    set -l cmd (__fish_dom_vol_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dom-vol -n "__fish_dom_vol_needs_command" -s c -l connect -d 'libvirt connection URI, as for virsh (e.g. qemu:///system, qemu+ssh://host/system) [default: $LIBVIRT_DEFAULT_URI, else libvirt\'s default]' -r
complete -c dom-vol -n "__fish_dom_vol_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-vol -n "__fish_dom_vol_needs_command" -s V -l version -d 'Print version'
complete -c dom-vol -n "__fish_dom_vol_needs_command" -f -a "create" -d 'Create a volume (no-op when it exists with the same spec)'
complete -c dom-vol -n "__fish_dom_vol_needs_command" -f -a "upload" -d 'Upload a local file into a volume, sending only its data'
complete -c dom-vol -n "__fish_dom_vol_needs_command" -f -a "delete" -d 'Delete a volume and its upload stamps (no-op when it does not exist)'
complete -c dom-vol -n "__fish_dom_vol_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dom-vol -n "__fish_dom_vol_using_subcommand create" -l name -d 'The volume\'s name' -r
complete -c dom-vol -n "__fish_dom_vol_using_subcommand create" -l size -d 'Capacity: bytes, or with a unit (20GiB, 512M; K/M/G/T are powers of 1024, KB/MB/GB/TB of 1000) [default with --backing: the backing volume\'s]' -r
complete -c dom-vol -n "__fish_dom_vol_using_subcommand create" -l format -d 'Format [default: qcow2 with --backing, else raw]' -r -f -a "raw\t'A plain image, sparse on the host'
qcow2\t'QEMU copy-on-write: may have a backing volume'"
complete -c dom-vol -n "__fish_dom_vol_using_subcommand create" -l backing -d 'A qcow2 overlay on this volume (copy-on-write, as cloud images are used)' -r
complete -c dom-vol -n "__fish_dom_vol_using_subcommand create" -l pool -d 'The pool [default: "default", made if the host has none]' -r
complete -c dom-vol -n "__fish_dom_vol_using_subcommand create" -l for -d 'Name the domxml-gen setting this volume is for in the record' -r -f -a "kernel\t'--kernel (the host path)'
initrd\t'--initrd (the host path)'
disk\t'--disk vol=POOL/NAME'
cdrom\t'--cdrom vol=POOL/NAME'
install-disk\t'--install-disk vol=POOL/NAME,device=cdrom (a seed or the install ISO)'"
complete -c dom-vol -n "__fish_dom_vol_using_subcommand create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-vol -n "__fish_dom_vol_using_subcommand upload" -l name -d 'The volume\'s name [default: FILE\'s name]' -r
complete -c dom-vol -n "__fish_dom_vol_using_subcommand upload" -l pool -d 'The pool [default: "default", made if the host has none]' -r
complete -c dom-vol -n "__fish_dom_vol_using_subcommand upload" -l for -d 'Name the domxml-gen setting this volume is for in the record' -r -f -a "kernel\t'--kernel (the host path)'
initrd\t'--initrd (the host path)'
disk\t'--disk vol=POOL/NAME'
cdrom\t'--cdrom vol=POOL/NAME'
install-disk\t'--install-disk vol=POOL/NAME,device=cdrom (a seed or the install ISO)'"
complete -c dom-vol -n "__fish_dom_vol_using_subcommand upload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-vol -n "__fish_dom_vol_using_subcommand delete" -s h -l help -d 'Print help'
complete -c dom-vol -n "__fish_dom_vol_using_subcommand help; and not __fish_seen_subcommand_from create upload delete help" -f -a "create" -d 'Create a volume (no-op when it exists with the same spec)'
complete -c dom-vol -n "__fish_dom_vol_using_subcommand help; and not __fish_seen_subcommand_from create upload delete help" -f -a "upload" -d 'Upload a local file into a volume, sending only its data'
complete -c dom-vol -n "__fish_dom_vol_using_subcommand help; and not __fish_seen_subcommand_from create upload delete help" -f -a "delete" -d 'Delete a volume and its upload stamps (no-op when it does not exist)'
complete -c dom-vol -n "__fish_dom_vol_using_subcommand help; and not __fish_seen_subcommand_from create upload delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
