# The two commands a newcomer needs: `make demo` and `make test`.
GO      ?= go
BIN     := bin/station
UNITS   ?= 4
SPEED   ?= 4
# Two units show the line rules at work: a protected chip is recovered, a
# transient J-Link error is retried; all four still PASS.
DEMO_FAULTS ?= protected:2,jlink-transient:3
RUNS    ?= 200000
DB      ?= /tmp/station-bench.db

# What `station version` reports.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.buildVersion=$(VERSION) -X main.buildCommit=$(COMMIT) -X main.buildDate=$(DATE)
SOAK_UNITS ?= 10000

.PHONY: build test test-short demo bench lint seed-db fuzz soak clean docs docs-check

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/station
	$(GO) build -ldflags "$(LDFLAGS)" -o $(dir $(BIN))station-faketool ./cmd/station-faketool

# docs/cli: the command reference, generated from the commands (a test
# fails when it is stale).
docs:
	$(GO) test ./cmd/station -run TestCLIReferenceUpToDate -update

# The README's marked blocks, run as written, and the systemd unit verified.
docs-check: build
	scripts/readme-run.sh
	scripts/check-deploy.sh

# The whole suite, as CI runs it: race detector on, end-to-end tests on the
# virtual line included.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

# The station provisioning a virtual line of $(UNITS) units, headless.
demo: build
	$(BIN) demo --units $(UNITS) --speed $(SPEED) --faults "$(DEMO_FAULTS)" --dir $(CURDIR)/demo

# Speed figures: records (report/commit ratios), virtual line start-up, and
# one unit's cycle time per step with the station's own overhead.
bench: build
	RUNS=$(RUNS) DB=$(DB) scripts/bench.sh
	scripts/sim-start.sh
	scripts/cycle.sh
	scripts/tui-bench.sh
	@echo "insertion -> Attached (usb discovery on the virtual line, 100 plug events):"
	$(GO) test ./linetest -run '^$$' -bench PlugToAttached -benchtime 1x | grep Benchmark
	@echo "insertion -> first step started (the whole station, 100 plug events; target p95 <= 300 ms):"
	$(GO) test ./linetest -run '^$$' -bench PlugToFirstStep -benchtime 1x | grep Benchmark
	scripts/line-bench.sh
	scripts/central-bench.sh

# Not in CI: $(SOAK_UNITS) units through 32 slots of the virtual line at speed
# 50, ~5% faults of every kind, the station SIGKILLed in ~10% of the rounds;
# checks nothing lost or left RUNNING, faults end with their codes, no PSK
# in any output, RSS stable (tools/soak). Takes about an hour.
soak: build
	$(GO) run ./tools/soak -bin $(BIN) -units $(SOAK_UNITS)

seed-db:
	$(GO) run ./tools/seeddb -runs $(RUNS) -db $(DB)

fuzz:
	$(GO) test ./flash -run '^$$' -fuzz FuzzParseHex -fuzztime 30s
	$(GO) test ./inject/at -run '^$$' -fuzz FuzzLineParser -fuzztime 30s
	$(GO) test ./discover -run '^$$' -fuzz FuzzParseUevent -fuzztime 30s

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

clean:
	rm -rf bin demo
