# Regenerate the committed BPF object. Needs Debian's clang 14 and libbpf-dev
# (headers only). The output is byte-for-byte reproducible: debug paths are
# mapped to "." and DWARF is stripped (BTF, which CO-RE needs, is kept).
CLANG ?= clang-14
STRIP ?= llvm-strip-14
BPF_CFLAGS := -target bpf -g -O2 -Wall -Werror -fdebug-prefix-map=$(CURDIR)=. -I bpf

.PHONY: bpf bpf-check

bpf: bpf/execsnoop.bpf.o

bpf/execsnoop.bpf.o: bpf/execsnoop.bpf.c bpf/execsnoop.h bpf/vmlinux_min.h
	cd $(CURDIR) && $(CLANG) $(BPF_CFLAGS) -c bpf/execsnoop.bpf.c -o $@.tmp
	$(STRIP) -g $@.tmp
	mv $@.tmp $@

# Rebuild into a temporary file and fail if it differs from the committed one.
bpf-check:
	cd $(CURDIR) && $(CLANG) $(BPF_CFLAGS) -c bpf/execsnoop.bpf.c -o /tmp/execsnoop.bpf.check.o
	$(STRIP) -g /tmp/execsnoop.bpf.check.o
	@if cmp -s /tmp/execsnoop.bpf.check.o bpf/execsnoop.bpf.o; then \
		echo "bpf/execsnoop.bpf.o is up to date"; \
	else \
		echo "bpf/execsnoop.bpf.o is stale: run 'make bpf' and commit it" >&2; exit 1; \
	fi

# Regenerate the man page and shell completions from the clap definition
# (tests/generated.rs checks them fresh).
.PHONY: generated deb
generated:
	EXECSNOOP_REGENERATE=1 cargo test --release --test tests -- --test-threads=1 generated::

# The Debian package (needs cargo-deb: cargo install cargo-deb --locked).
deb:
	cargo deb
