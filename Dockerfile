# The ssehub container image: the static binary of `make release` on
# distroless's static base, run as its non-root user. From the repository's
# root (README, "Install"):
#
#   make image          # or, by hand:
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t ssehub .
#   docker run --rm -p 8080:8080 ssehub
#
# .ci/check-dockerfile builds the binary with this file's go build command
# and runs it (make lint), since no container engine runs in CI.

# The Go release of go.mod's go line (.ci/check-dockerfile checks they
# agree). The builder runs on the build machine's platform and
# cross-compiles, so a multi-platform build (docker buildx --platform
# linux/amd64,linux/arm64) needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# The modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
# Empty without --build-arg: internal/version then reports "devel" (the
# build context has no .git for the toolchain to read a version from).
ARG VERSION=
ARG COMMIT=
# make release's flags: no cgo (distroless/static has no libc), no local
# paths, no symbol tables, the version stamped.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false -ldflags "-s -w -X github.com/ssehub/ssehub/internal/version.Version=$VERSION -X github.com/ssehub/ssehub/internal/version.Commit=$COMMIT" -o /out/ssehub ./cmd/ssehub

# CA certificates, /etc/passwd with nonroot (uid 65532, the runAsUser of
# docs/kubernetes/ssehub.yaml), tzdata; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ssehub /ssehub
USER 65532:65532
# The API listener (--listen, default :8080). The admin listener
# (--admin-listen: pprof and /metrics) is off by default; publish the port
# you give it only on a private network.
EXPOSE 8080
# No shell in the image, so the check is the binary itself: `ssehub health`
# asks the hub's own listener for its health and exits 0 or 1. It reads the
# listen address as the hub does, so give settings as SSEHUB_* variables
# (docker run -e SSEHUB_LISTEN=:9000), which it sees too, not as arguments.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/ssehub", "health"]
ENTRYPOINT ["/ssehub"]
