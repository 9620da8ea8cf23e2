complete -c dom-define -s c -l connect -d 'libvirt connection URI, as for virsh (e.g. qemu:///system, qemu+ssh://host/system); without it, the `uri` of input records, else $LIBVIRT_DEFAULT_URI, else libvirt\'s default' -r
complete -c dom-define -l no-validate -d 'Do not validate the XML against libvirt\'s schema (libvirt still parses it)'
complete -c dom-define -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dom-define -s V -l version -d 'Print version'
