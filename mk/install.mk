# mk/install.mk: silo's version, make install / uninstall and make deb.
# Included by the top Makefile (needs BUILD and the binaries' rules).
#
# Layout (FHS; docs/install.md): PREFIX/bin/silo, PREFIX/libexec/silo/
# {silo-vmm,silo-netd,silo-serve}, PREFIX/share/silo/ (guest kernel, initramfs, base
# image, manifest: read-only, shared by every user), man pages and bash
# completion. silo finds the rest relative to itself (sb_find_part), so
# PREFIX can be anything and the build tree keeps working.

# The one place the version is set: the VERSION file.
SILO_VERSION := $(shell cat VERSION)
SILO_COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell \
                  git diff-index --quiet HEAD -- 2>/dev/null || \
                  { git rev-parse HEAD >/dev/null 2>&1 && echo -dirty; })

# Rewritten only when the text changes, so a new commit recompiles one file.
.PHONY: version-h
$(BUILD)/version.h: version-h
	@mkdir -p $(BUILD)
	@printf '#define SILO_VERSION "%s"\n#define SILO_COMMIT "%s"\n' \
	  '$(SILO_VERSION)' '$(SILO_COMMIT)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/src/cli/version.o: $(BUILD)/version.h
$(BUILD)/src/cli/version.o: CFLAGS += -I$(BUILD)

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     := $(PREFIX)/bin
LIBEXECDIR := $(PREFIX)/libexec/silo
DATADIR    := $(PREFIX)/share/silo
MAN1DIR    := $(PREFIX)/share/man/man1
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
# make deb strips (INSTALL_STRIP=-s); make install keeps the debug info.
INSTALL_STRIP ?=
GUEST_PARTS := vmlinux agent.cpio.gz rootfs.ext4 manifest
MAN_PAGES   := docs/man/silo.1 docs/man/silo-vmm.1
INSTALLED   := $(BINDIR)/silo $(BINDIR)/silo-runtime $(LIBEXECDIR)/silo-vmm $(LIBEXECDIR)/silo-netd \
               $(LIBEXECDIR)/silo-serve \
               $(GUEST_PARTS:%=$(DATADIR)/%) $(MAN_PAGES:docs/man/%=$(MAN1DIR)/%.gz) \
               $(BASHCOMPDIR)/silo

.PHONY: install uninstall deb
install: $(BUILD)/silo $(BUILD)/silo-runtime $(BUILD)/silo-vmm $(BUILD)/silo-netd $(BUILD)/silo-serve
	@for f in $(GUEST_PARTS); do [ -e $(BUILD)/guest/$$f ] || \
	  { echo "install: $(BUILD)/guest/$$f missing: run 'make image'" >&2; exit 1; }; done
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR) \
	  $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(INSTALL_STRIP) $(BUILD)/silo $(BUILD)/silo-runtime $(DESTDIR)$(BINDIR)/
	install -m 0755 $(INSTALL_STRIP) $(BUILD)/silo-vmm $(BUILD)/silo-netd $(BUILD)/silo-serve \
	  $(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 $(GUEST_PARTS:%=$(BUILD)/guest/%) $(DESTDIR)$(DATADIR)/
	for m in $(MAN_PAGES); do gzip -9nc $$m > $(DESTDIR)$(MAN1DIR)/$${m##*/}.gz && \
	  chmod 0644 $(DESTDIR)$(MAN1DIR)/$${m##*/}.gz; done
	install -m 0644 contrib/bash-completion/silo $(DESTDIR)$(BASHCOMPDIR)/silo

uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)%)
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR) 2>/dev/null

# build/silo_VERSION_ARCH.deb with dpkg-deb (scripts/deb.sh; docs/install.md).
# A file target: `make test` builds it for tests/e2e/test_package*.py and
# only when an input changed (compressing the base image takes a minute).
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB      := $(BUILD)/silo_$(SILO_VERSION)_$(DEB_ARCH).deb
# The guest parts as they are when make starts (none in a fresh clone: then
# the .deb does not exist either); `| image` makes them first.
DEB_IN   := $(BUILD)/silo $(BUILD)/silo-runtime $(BUILD)/silo-vmm $(BUILD)/silo-netd \
            $(BUILD)/silo-serve \
            $(wildcard $(GUEST_PARTS:%=$(BUILD)/guest/%)) \
            $(MAN_PAGES) contrib/bash-completion/silo scripts/deb.sh mk/install.mk \
            $(wildcard debian/*)
deb: all image
	@$(MAKE) --no-print-directory $(DEB)
$(DEB): $(DEB_IN) | image
	@scripts/deps.sh deb
	@scripts/deb.sh $(BUILD) $(SILO_VERSION)
test: $(DEB)
