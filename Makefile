# domkit: build, test, document, benchmark and install the five tools.
# `make demo` and `make check` do all their own set-up on a fresh Debian 12 machine.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
CARGO ?= cargo
TOOLS := domxml-gen domxml-rewrite dom-define dom-create dom-wait-shutdown

.PHONY: all build deps check fmt-check clippy test man man-lint completions bench demo install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

# Debian packages for building, the private test hypervisor, the test guest and the peers.
deps:
	scripts/deps.sh

# Everything CI runs.
check: deps fmt-check clippy test man-lint

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

test:
	$(CARGO) test --locked --workspace

# Regenerate man/*.1 from the clap definitions (the man test fails when they drift).
man:
	DOMKIT_BLESS=1 $(CARGO) test --locked --test man

# Regenerate completions/{bash,zsh,fish}/ from the clap definitions (the completions test
# fails when they drift).
completions:
	DOMKIT_BLESS=1 $(CARGO) test --locked --test completions completions_match_the_clap_definitions

man-lint:
	@out=$$(groff -man -ww -z man/*.1 man/*.5 man/*.7 2>&1); if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

# Not part of check: benchmarks side by side with virt-xml, virt-install and virsh.
bench: deps
	bench/run.sh
	bench/libvirt.sh | tee bench/results/libvirt-latest.md

demo: deps build
	scripts/demo.sh

install: build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man7"
	for t in $(TOOLS); do install -m 0755 "target/release/$$t" "$(DESTDIR)$(BINDIR)/$$t"; done
	install -m 0644 man/*.1 "$(DESTDIR)$(MANDIR)/man1/"
	install -m 0644 man/*.7 "$(DESTDIR)$(MANDIR)/man7/"

uninstall:
	for t in $(TOOLS); do rm -f "$(DESTDIR)$(BINDIR)/$$t" "$(DESTDIR)$(MANDIR)/man1/$$t.1"; done
	rm -f "$(DESTDIR)$(MANDIR)/man7/domkit.7"

clean:
	$(CARGO) clean
