# Thin wrappers: CI runs the same commands.
GO      ?= go
PKGS    := ./...

.PHONY: all build generate check-generated test test-short lint bench fuzz run

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

# Every test: unit, integration (real SQLite, real processes), crash and
# browser tests (headless Chromium from /usr/bin/chromium).
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -count=1 -short $(PKGS)

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l . && echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz:
	$(GO) test ./envs -run '^$$' -fuzz FuzzParseSpec -fuzztime 60s
