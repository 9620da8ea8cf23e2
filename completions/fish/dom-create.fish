complete -c dom-create -s c -l connect -d 'libvirt connection URI, as for virsh (e.g. qemu:///system, qemu+ssh://host/system); without it, the `uri` of input records, else $LIBVIRT_DEFAULT_URI, else libvirt\'s default' -r
complete -c dom-create -l paused -d 'Leave the guest paused instead of running its CPUs'
complete -c dom-create -l autodestroy -d 'Destroy the guest when this connection closes, i.e. when dom-create exits (as virsh)'
complete -c dom-create -l validate -d 'Validate domain XML against libvirt\'s schema before booting it'
complete -c dom-create -l reinstall -d 'Run an install config even over a domain whose install state says installed'
complete -c dom-create -l resume -d 'Re-run a flow safely: an install config over an installed domain prints its record (action "already-installed", exit 0) instead of failing, one whose installer still runs is attached to ("installing"), and a NAME already running is not an error ("already-running")'
complete -c dom-create -l reset-nvram -d 'Start with fresh UEFI variables from the template (VIR_DOMAIN_START_RESET_NVRAM), for a reinstall of a UEFI guest'
complete -c dom-create -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-create -s V -l version -d 'Print version'

# domkit: domain names from the connection, as virsh's completer does. The tool itself
# answers (its hidden --complete-domains flag) for the URI of -c/--connect typed so far,
# else LIBVIRT_DEFAULT_URI. LIBVIRT_AUTOSTART=0 keeps libvirt from starting a session
# daemon; when no daemon answers there are no names and no messages.
function __domkit_domains --argument-names tool
    set -l tokens (commandline -opc)
    set -l uri
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case -c --connect
                set uri $tokens[(math $i + 1)]
            case '--connect=*'
                set uri (string replace -- --connect= '' $tokens[$i])
        end
    end
    if test (string replace -r -- '.*/' '' $tokens[1]) = $tool
        set tool $tokens[1]
    end
    if test -n "$uri"
        LIBVIRT_AUTOSTART=0 $tool --complete-domains --connect $uri 2>/dev/null
    else
        LIBVIRT_AUTOSTART=0 $tool --complete-domains 2>/dev/null
    end
end
complete -c dom-create -a '(__domkit_domains dom-create)' -d domain
