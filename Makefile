# domkit: build, test, document, benchmark and install the tools.
# `make demo` and `make check` do all their own set-up on a fresh Debian 12 machine.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/domkit
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/vendor-completions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
DESTDIR ?=
CARGO ?= cargo
# The tools: Cargo.toml's [[bin]] names, the one list (scripts read it with print-tools).
TOOLS := $(shell sed -n '/^\[\[bin\]\]/{n;s/^name = "\(.*\)"$$/\1/p;}' Cargo.toml)
# The cargo profile `build` makes and `install` copies from: release, unless told
# otherwise (`make check` installs the dev build its tests made: PROFILE=dev).
PROFILE ?= release
# Where cargo builds: asked of cargo (CARGO_TARGET_DIR, a build.target-dir, else target/)
# by the goals that read the build, at their first use and only then (the eval keeps the
# answer).
ifndef TARGET_DIR
TARGET_DIR = $(eval TARGET_DIR := $(shell CARGO="$(CARGO)" scripts/target-dir.sh))$(TARGET_DIR)
endif
PROFILE_DIR = $(TARGET_DIR)/$(if $(filter dev test,$(PROFILE)),debug,$(PROFILE))
# What `install` makes first; empty installs what is already built.
INSTALL_BUILD ?= build

.PHONY: all build deps check fmt-check clippy test man man-lint completions install-check \
	print-tools bench fuzz fuzz-smoke demo acceptance install uninstall deb clean

all: build

# The tools, one per line.
print-tools:
	@printf '%s\n' $(TOOLS)

build:
	$(CARGO) build --profile $(PROFILE) --locked

# Debian packages for building, the private test hypervisor, the test guest and the peers.
deps:
	scripts/deps.sh

# Everything CI runs.
check: deps fmt-check clippy test man-lint install-check fuzz-smoke

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

# make install into a DESTDIR from the dev build the tests made, list exactly what
# landed, check it against what should, run an installed tool, then make uninstall and
# check that no file is left.
install-check:
	scripts/install-check.sh

man-lint:
	@out=$$(groff -man -ww -z man/*.1 man/*.5 man/*.7 2>&1); if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

# Not part of check: benchmarks side by side with virt-xml, virt-install and virsh.
bench: deps
	bench/run.sh
	bench/libvirt.sh | tee bench/results/libvirt-latest.md
	bench/supervise.sh | tee bench/results/supervise-latest.md

# Not part of check: the mutation fuzzer of the XML half and the JSON readers (issue 6),
# deterministic given SEED (examples/fuzz). Failing inputs land in target/fuzz-failures,
# each with a one-line reproduction that uses the release tools built here.
SEED ?= 1
MUTANTS ?= 1000000
fuzz:
	$(CARGO) build --release --locked --bins --example fuzz
	"$(TARGET_DIR)/release/examples/fuzz" --seed $(SEED) --mutants $(MUTANTS)

# In check: 2,000 mutants of seed 1 on the debug build (a few seconds), so a regression the
# fuzzer finds at once never lands.
fuzz-smoke:
	$(CARGO) run --quiet --locked --example fuzz -- --seed 1 --mutants 2000 --no-seed-pass --out target/fuzz-smoke

demo: deps build
	scripts/demo.sh

# Not part of check: real Debian 12 installs through the documented flow on the lab daemon
# (FAI CD-ROM, FAI direct kernel, cloud image + NoCloud seed); about 45 min under TCG, as
# root. Its own Debian packages: scripts/deps-acceptance.sh. tests/acceptance.rs keeps a
# fast smoke test of each piece in check.
acceptance: deps build
	scripts/deps-acceptance.sh
	tests/acceptance/run.sh all

# Tools, man pages (sections 1, 5, 7), the records' JSON Schema and the bash, zsh and fish
# completions, under PREFIX, honouring DESTDIR and the *DIR variables above.
install: $(INSTALL_BUILD)
	@[ -n "$(TARGET_DIR)" ] || { echo "make install: cargo's target directory is unknown (scripts/target-dir.sh failed; give TARGET_DIR=DIR)" >&2; exit 1; }
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man5" \
		"$(DESTDIR)$(MANDIR)/man7" "$(DESTDIR)$(DOCDIR)" "$(DESTDIR)$(BASHCOMPDIR)" \
		"$(DESTDIR)$(ZSHCOMPDIR)" "$(DESTDIR)$(FISHCOMPDIR)"
	for t in $(TOOLS); do \
		install -m 0755 "$(PROFILE_DIR)/$$t" "$(DESTDIR)$(BINDIR)/$$t" && \
		install -m 0644 "man/$$t.1" "$(DESTDIR)$(MANDIR)/man1/$$t.1" && \
		install -m 0644 "completions/bash/$$t" "$(DESTDIR)$(BASHCOMPDIR)/$$t" && \
		install -m 0644 "completions/zsh/_$$t" "$(DESTDIR)$(ZSHCOMPDIR)/_$$t" && \
		install -m 0644 "completions/fish/$$t.fish" "$(DESTDIR)$(FISHCOMPDIR)/$$t.fish" \
		|| exit 1; \
	done
	install -m 0644 man/domkit-record.5 "$(DESTDIR)$(MANDIR)/man5/domkit-record.5"
	install -m 0644 man/domkit.7 "$(DESTDIR)$(MANDIR)/man7/domkit.7"
	install -m 0644 doc/record.schema.json "$(DESTDIR)$(DOCDIR)/record.schema.json"

# Everything install put there (the shared folders stay; domkit's own doc folder goes).
uninstall:
	for t in $(TOOLS); do \
		rm -f "$(DESTDIR)$(BINDIR)/$$t" "$(DESTDIR)$(MANDIR)/man1/$$t.1" \
			"$(DESTDIR)$(BASHCOMPDIR)/$$t" "$(DESTDIR)$(ZSHCOMPDIR)/_$$t" \
			"$(DESTDIR)$(FISHCOMPDIR)/$$t.fish"; \
	done
	rm -f "$(DESTDIR)$(MANDIR)/man5/domkit-record.5" "$(DESTDIR)$(MANDIR)/man7/domkit.7" \
		"$(DESTDIR)$(DOCDIR)/record.schema.json"
	if [ -d "$(DESTDIR)$(DOCDIR)" ]; then rmdir "$(DESTDIR)$(DOCDIR)"; fi

# A Debian package of the release build (debian/ in cargo's target directory), checked by
# lintian.
deb:
	scripts/deb.sh

clean:
	$(CARGO) clean
