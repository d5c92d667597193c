# Thin wrappers: CI runs the same commands.
GO      ?= go
PKGS    := ./...

.PHONY: all build generate check-generated test vet tools test-sqlite test-postgres test-short lint nocgo bench fuzz run

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mayfly ./cmd/mayfly

run:
	$(GO) run ./cmd/mayfly

# Regenerate templ components and the static assets (needs Node and npm).
generate:
	$(GO) tool templ generate -path web
	npm ci --no-audit --no-fund
	npm run build

# Fail if generated files differ from what is committed.
check-generated: generate
	@git diff --exit-code -- web static || (echo "generated files are stale: run 'make generate' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- web static)" || (git status --porcelain -- web static; echo "untracked generated files: run 'make generate' and commit" && exit 1)

# Every test: unit, integration (real database, real processes), crash and
# browser tests (headless Chromium from /usr/bin/chromium), once on SQLite
# and once on PostgreSQL: the server in MAYFLY_TEST_DATABASE_URL, or a
# throwaway cluster .ci/with-postgres starts (Debian's postgresql package).
# The tofu and kubernetes provider tests drive real OpenTofu, etcd,
# kube-apiserver and kube-controller-manager binaries: `make tools` builds
# them from Go modules into a cache outside the repo (once per version;
# ~25 minutes the first time), and make test requires them.
test: vet tools test-sqlite test-postgres

vet:
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

tools:
	.ci/build-tools

test-sqlite:
	MAYFLY_REQUIRE_TOOLS=1 MAYFLY_TEST_DATABASE_URL= $(GO) test -count=1 -timeout 30m $(PKGS)

test-postgres:
	MAYFLY_REQUIRE_TOOLS=1 .ci/with-postgres $(GO) test -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -count=1 -short $(PKGS)

lint: nocgo
	@test -z "$$(gofmt -l .)" || (gofmt -l . && echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

# No dependency outside the standard library may compile C (issue 15): the
# default build (CGO_ENABLED=1 where a C compiler exists) stays fast.
nocgo:
	@out="$$(CGO_ENABLED=1 $(GO) list -deps -test -f '{{if and .CgoFiles (not .Standard)}}{{.ImportPath}}{{end}}' $(PKGS))"; \
	test -z "$$out" || (echo "$$out"; echo "nocgo: the packages above have cgo files" && exit 1)

# The benchmark suite (issue 6): orchestration overhead and reaper lag on
# SQLite, then on PostgreSQL (a throwaway cluster, as in make test); raw
# results in bench/results.json, rendered into BENCHMARKS.md. Then the Go
# micro-benchmarks (benchstat-friendly output). Asserts nothing about time.
BENCH_FLAGS ?=
bench:
	$(GO) run ./bench/run -fresh -out bench/results.json $(BENCH_FLAGS)
	.ci/with-postgres $(GO) run ./bench/run -postgres -cold-go-run=false -out bench/results.json $(BENCH_FLAGS)
	$(GO) run ./bench/report -in bench/results.json -notes bench/notes.md -out BENCHMARKS.md
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz:
	$(GO) test ./envs -run '^$$' -fuzz FuzzParseSpec -fuzztime 60s
	$(GO) test ./envs -run '^$$' -fuzz FuzzDecodeMap -fuzztime 30s
