complete -c dom-wait-shutdown -s c -l connect -d 'libvirt connection URI, as for virsh (e.g. qemu:///system, qemu+ssh://host/system); without it, the `uri` of input records, else $LIBVIRT_DEFAULT_URI, else libvirt\'s default' -r
complete -c dom-wait-shutdown -l timeout -d 'Give up after SECONDS (exit 8), leaving the guests as they are; default: no limit' -r
complete -c dom-wait-shutdown -l reconnect-timeout -d 'Give up when a lost connection cannot be reopened within SECONDS (exit 7); 0 fails at once' -r
complete -c dom-wait-shutdown -l idle-timeout -d 'A guest with neither disk nor network I/O for SECONDS has stalled (exit 11, reason "stalled"; it is left running). Read from libvirt\'s block and interface statistics' -r
complete -c dom-wait-shutdown -l reboots -d 'End the wait at the guest\'s Nth reset (libvirt\'s reboot event, under on_reboot=restart): the guest is then stopped and counts as a clean stop (reason "reboot")' -r
complete -c dom-wait-shutdown -l min-uptime -d 'Resets during the first SECONDS of the wait on a domain (from the start, or from when its record arrived) do not count toward --reboots (firmware and TPM resets early in a boot)' -r
complete -c dom-wait-shutdown -l console-log -d 'Append the serial console to FILE while waiting ("{name}" is replaced by the domain\'s name; required with several domains)' -r -F
complete -c dom-wait-shutdown -l fail-on -d 'The wait fails (exit 9, reason "console") when a console line matches REGEX; the guest is left running' -r
complete -c dom-wait-shutdown -l expect -d 'A clean stop counts only if a console line matched REGEX before it: an installer that gives up and powers off is not a finished install (exit 9)' -r
complete -c dom-wait-shutdown -l screenshot -d 'Write a PNG of the display to FILE on a timeout, stall, --fail-on match or abnormal stop ("{name}" as for --console-log). Needs a video device' -r -F
complete -c dom-wait-shutdown -l readonly -d 'Open the connection read-only (waiting needs no more; the install state is then not updated, and the console and screenshots are not available)'
complete -c dom-wait-shutdown -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-wait-shutdown -s V -l version -d 'Print version'

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
complete -c dom-wait-shutdown -f -a '(__domkit_domains dom-wait-shutdown)' -d domain
