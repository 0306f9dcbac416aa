# ssehub developer tasks. `make test` is what CI runs.
GO       ?= go
FUZZTIME ?= 30s
PKGS     := ./...

.PHONY: build deps test lint fuzz bench idle-rss resume-storm

build:
	$(GO) build -o bin/ ./cmd/...

# System packages the tests need (redis-server), installed if missing.
deps:
	@bash .ci/deps

# Unit, fuzz-seed, allocation and end-to-end tests, with the race detector.
test: deps
	$(GO) test -race -shuffle=on -count=1 $(PKGS)

lint:
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Go microbenchmarks (allocations reported).
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Hub RSS per idle stream at 10k streams, shared and per-user topics
# (BENCHMARKS.md). Fails only if streams do not connect.
idle-rss:
	$(GO) run ./cmd/ssehub-bench idle -n 10000 -topics shared
	$(GO) run ./cmd/ssehub-bench idle -n 10000 -topics unique

# Fleet mode: 10k streams resuming at once through Redis (BENCHMARKS.md).
resume-storm: deps
	$(GO) run ./cmd/ssehub-bench resume-storm -n 10000
	$(GO) run ./cmd/ssehub-bench resume-storm -n 10000 -topics unique -m 6
