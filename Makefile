# ssehub developer tasks. `make test` is what CI runs.
GO       ?= go
FUZZTIME ?= 30s
PKGS     := ./...

.PHONY: build deps jaeger test lint release print-cross-targets image fuzz microbench bench bench-100k bench-units idle-rss resume-storm demo-screenshot

build:
	$(GO) build -o bin/ ./cmd/...

# System packages the tests need (redis-server, chromium, nginx), installed if missing.
deps:
	@bash .ci/deps

# The Jaeger binary the tracing test sends spans to: built from the module
# proxy in internal/jaeger (its own module, so go.mod stays lean), once per
# version, into the user cache, where the test looks for it (it builds it
# itself when missing). Minutes on a fresh machine, so it is built before
# the tests rather than inside their timeout.
JAEGER_VERSION := $(shell awk '$$1 == "github.com/jaegertracing/jaeger" {print $$2}' internal/jaeger/go.mod)
JAEGER_BIN     := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ssehub/jaeger-$(JAEGER_VERSION)/jaeger

jaeger: $(JAEGER_BIN)

$(JAEGER_BIN):
	@echo "building Jaeger $(JAEGER_VERSION) into $@" >&2
	@mkdir -p $(dir $@)
	cd internal/jaeger && $(GO) build -o $@.tmp github.com/jaegertracing/jaeger/cmd/jaeger
	mv $@.tmp $@

# Unit, fuzz-seed, allocation and end-to-end tests, with the race detector.
test: deps jaeger
	$(GO) test -race -shuffle=on -count=1 $(PKGS)

# The systems every package must build and vet on (GOOS/GOARCH).
CROSS_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

# go vet and staticcheck; then go build and go vet for each of
# CROSS_TARGETS, so that code for one system does not break the others,
# stopping at the first that fails; then the import rules between the
# layers (.ci/check-imports says which and why), and that the README's
# package map lists every package (.ci/check-package-map); and that the
# Dockerfile's go build line makes a working binary (.ci/check-dockerfile,
# since CI has no container engine). The builds use
# make release's flags (no cgo, -trimpath), so that a release after lint
# (.ci/run) finds every package compiled and only links: about 20 s instead
# of 8.5 minutes of compiling. (make test builds with cgo, for -race.)
lint:
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	@set -e; for target in $(CROSS_TARGETS); do \
		echo "lint: go build and go vet for $$target"; \
		CGO_ENABLED=0 GOOS=$${target%/*} GOARCH=$${target#*/} $(GO) build -trimpath -buildvcs=false $(PKGS); \
		GOOS=$${target%/*} GOARCH=$${target#*/} $(GO) vet $(PKGS); \
	done
	.ci/check-imports
	.ci/check-package-map
	.ci/check-dockerfile

# The release: for each of CROSS_TARGETS, a static (no cgo) binary of
# cmd/ssehub without local paths or symbol tables, stamped with VERSION and
# COMMIT (internal/version), into dist/, and their SHA256SUMS; then
# .ci/check-release checks what was built. VERSION=v1.2.0 overrides git
# describe. -buildvcs=false: the stamp says which commit, and without the
# toolchain's own VCS record the binary is the same whether built here or
# from a tree without .git (the Dockerfile's build), and the stamped commit
# is the only copy of the hash in it, which .ci/check-release relies on.
ifndef VERSION
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
endif
COMMIT          ?= $(shell git rev-parse HEAD 2>/dev/null)
VERSION_PKG     := github.com/ssehub/ssehub/internal/version
RELEASE_LDFLAGS := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT)

release:
	rm -rf dist
	mkdir -p dist
	@set -e; for target in $(CROSS_TARGETS); do \
		os=$${target%/*}; arch=$${target#*/}; ext=; [ $$os != windows ] || ext=.exe; \
		out=dist/ssehub-$(VERSION)-$$os-$$arch$$ext; \
		echo "release: $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=false -ldflags '$(RELEASE_LDFLAGS)' -o $$out ./cmd/ssehub; \
	done
	cd dist && sha256sum ssehub-* > SHA256SUMS
	.ci/check-release dist '$(VERSION)' '$(COMMIT)'

# The container image (Dockerfile), stamped like the release and tagged
# IMAGE:VERSION: make image IMAGE=registry.example.com/ssehub, then push
# it. CONTAINER=podman builds it without a Docker engine.
CONTAINER ?= docker
IMAGE     ?= ssehub

image:
	$(CONTAINER) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE):$(VERSION) .

# For .ci/check-release, which checks a binary for each.
print-cross-targets:
	@echo $(CROSS_TARGETS)

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Go microbenchmarks (allocations reported).
microbench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# ssehub and the net/http reference server side by side at 10k streams:
# the targets table of docs/protocol.md#performance-targets, with HTML and
# JSON reports.
bench:
	$(GO) run ./cmd/ssehub-bench compare -n 10000 -duration 20s -html bench-report.html -json bench-report.json

# The fleet targets at 100k streams: 7 hubs on Redis, 7 load generators.
# Fourteen Go processes share two cores, so each gets one P (GOMAXPROCS=1)
# instead of one per core: fewer threads compete for the same two cores,
# and the latencies were lower (BENCHMARKS.md).
bench-100k: deps
	$(GO) run ./cmd/ssehub-bench fleet -n 100000 -hubs 7 -workers 7 -pad 4096 -duration 60s \
		-hub-env GOMAXPROCS=1 -worker-procs 1 -html bench-100k.html -json bench-100k.json

# What each unit of a fleet's work costs Redis, on a private redis-server:
# per published event, per subscribed connection of a broadcast, per
# pattern subscription and per replayed event (the figures of
# docs/capacity.md). About two and a half minutes.
bench-units: deps
	$(GO) run ./cmd/ssehub-bench units -json bench-units.json

# Hub RSS per idle stream at 10k streams.
idle-rss:
	$(GO) run ./cmd/ssehub-bench idle -n 10000

# Fleet mode: 10k streams on 3 hubs on Redis; one hub is killed and its
# streams resume on the others.
resume-storm: deps
	$(GO) run ./cmd/ssehub-bench resume-storm -n 10000 -hubs 3

# The README's screenshot of the demo page, taken by the browser test of a
# hub restart (needs redis-server and chromium).
demo-screenshot: deps
	$(GO) test -count=1 -run '^TestBrowserDemoResumeAfterHubRestart$$' ./cmd/ssehub -args -demo-screenshot $(CURDIR)/docs/demo.png
