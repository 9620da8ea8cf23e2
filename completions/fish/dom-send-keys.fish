complete -c dom-send-keys -s c -l connect -d 'libvirt connection URI, as for virsh (e.g. qemu:///system, qemu+ssh://host/system); without it, the `uri` of input records, else $LIBVIRT_DEFAULT_URI, else libvirt\'s default' -r
complete -c dom-send-keys -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-send-keys -s V -l version -d 'Print version'
