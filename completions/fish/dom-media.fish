# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dom_media_global_optspecs
    string join \n h/help V/version
end

function __fish_dom_media_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dom_media_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dom_media_using_subcommand
    set -l cmd (__fish_dom_media_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dom-media -n "__fish_dom_media_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-media -n "__fish_dom_media_needs_command" -s V -l version -d 'Print version'
complete -c dom-media -n "__fish_dom_media_needs_command" -f -a "inspect" -d 'Print the ISO\'s identity, matching osinfo OS and kernel/initrd paths as JSON'
complete -c dom-media -n "__fish_dom_media_needs_command" -f -a "extract" -d 'Copy the kernel and initrd of an ISO or install tree into DIR; print them as domxml-gen spec JSON'
complete -c dom-media -n "__fish_dom_media_needs_command" -f -a "inject" -d 'Copy an initrd with files added (a newc cpio archive appended); print it as JSON'
complete -c dom-media -n "__fish_dom_media_needs_command" -f -a "image" -d 'Write files onto an ISO 9660 or FAT image with a volume label (install-only media)'
complete -c dom-media -n "__fish_dom_media_needs_command" -f -a "seed" -d 'Write a cloud-init NoCloud seed image (label cidata)'
complete -c dom-media -n "__fish_dom_media_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dom-media -n "__fish_dom_media_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c dom-media -n "__fish_dom_media_using_subcommand extract" -l kernel -d 'The kernel\'s path inside the ISO or tree, instead of the one inspect finds' -r
complete -c dom-media -n "__fish_dom_media_using_subcommand extract" -l initrd -d 'The initrd\'s path inside the ISO or tree, instead of the one inspect finds' -r
complete -c dom-media -n "__fish_dom_media_using_subcommand extract" -l force -d 'Replace files of the same names in DIR (never by following a symlink)'
complete -c dom-media -n "__fish_dom_media_using_subcommand extract" -l no-iso -d 'Leave out "install-disk" (the ISO itself as install-only CD-ROM, which most installers need to find their packages); a tree has none'
complete -c dom-media -n "__fish_dom_media_using_subcommand extract" -l no-cmdline -d 'Leave out "cmdline" (the ISO boot menu\'s command line for this kernel; for a .treeinfo tree over HTTP, inst.repo=URL, or install=URL for openSUSE)'
complete -c dom-media -n "__fish_dom_media_using_subcommand extract" -s h -l help -d 'Print help'
complete -c dom-media -n "__fish_dom_media_using_subcommand inject" -s o -l output -d 'Write the new initrd to OUT (through a temporary file renamed into place)' -r -F
complete -c dom-media -n "__fish_dom_media_using_subcommand inject" -l force -d 'Replace an existing OUT'
complete -c dom-media -n "__fish_dom_media_using_subcommand inject" -s h -l help -d 'Print help'
complete -c dom-media -n "__fish_dom_media_using_subcommand image" -l label -d 'The volume label: OEMDRV (RHEL kickstart), any label Windows setup is given (it searches every drive for autounattend.xml). ISO: up to 32 letters (case kept), digits, _ - .; FAT: up to 11 upper-case letters, digits, _ -' -r
complete -c dom-media -n "__fish_dom_media_using_subcommand image" -l format -d 'Filesystem: iso (Rock Ridge and Joliet names; a CD-ROM) or fat (a disk)' -r -f -a "iso\t'ISO 9660 with Rock Ridge and Joliet names (attach as a CD-ROM)'
fat\t'FAT with long names (attach as a disk)'"
complete -c dom-media -n "__fish_dom_media_using_subcommand image" -s o -l output -d 'Write the image to OUT (through a temporary file renamed into place) and print its domxml-gen spec JSON' -r -F
complete -c dom-media -n "__fish_dom_media_using_subcommand image" -l force -d 'Replace an existing OUT'
complete -c dom-media -n "__fish_dom_media_using_subcommand image" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -l user-data -d 'cloud-init user-data file (- for stdin); written empty when absent' -r -F
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -l meta-data -d 'NoCloud meta-data file; generated when absent: "instance-id:" --instance-id, or iid- and a digest of the other files (a changed seed is a new instance)' -r -F
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -l network-config -d 'Network configuration file (network-config, version 1 or 2)' -r -F
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -l vendor-data -d 'Vendor data file' -r -F
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -l instance-id -d 'The instance-id of a generated meta-data' -r
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -l hostname -d 'The local-hostname of a generated meta-data' -r
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -l format -d 'Filesystem of the image: iso (label cidata; a CD-ROM) or fat (label CIDATA; a disk)' -r -f -a "iso\t'ISO 9660 with Rock Ridge and Joliet names (attach as a CD-ROM)'
fat\t'FAT with long names (attach as a disk)'"
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -s o -l output -d 'Write the image to FILE (replaced atomically) and print its domxml-gen spec JSON; without it the image goes to stdout, which must not be a terminal' -r -F
complete -c dom-media -n "__fish_dom_media_using_subcommand seed" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-media -n "__fish_dom_media_using_subcommand help; and not __fish_seen_subcommand_from inspect extract inject image seed help" -f -a "inspect" -d 'Print the ISO\'s identity, matching osinfo OS and kernel/initrd paths as JSON'
complete -c dom-media -n "__fish_dom_media_using_subcommand help; and not __fish_seen_subcommand_from inspect extract inject image seed help" -f -a "extract" -d 'Copy the kernel and initrd of an ISO or install tree into DIR; print them as domxml-gen spec JSON'
complete -c dom-media -n "__fish_dom_media_using_subcommand help; and not __fish_seen_subcommand_from inspect extract inject image seed help" -f -a "inject" -d 'Copy an initrd with files added (a newc cpio archive appended); print it as JSON'
complete -c dom-media -n "__fish_dom_media_using_subcommand help; and not __fish_seen_subcommand_from inspect extract inject image seed help" -f -a "image" -d 'Write files onto an ISO 9660 or FAT image with a volume label (install-only media)'
complete -c dom-media -n "__fish_dom_media_using_subcommand help; and not __fish_seen_subcommand_from inspect extract inject image seed help" -f -a "seed" -d 'Write a cloud-init NoCloud seed image (label cidata)'
complete -c dom-media -n "__fish_dom_media_using_subcommand help; and not __fish_seen_subcommand_from inspect extract inject image seed help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
