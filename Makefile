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

SOAK_UNITS ?= 10000

.PHONY: build test test-short demo bench lint seed-db fuzz soak clean

build:
	$(GO) build -o $(BIN) ./cmd/station

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

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

clean:
	rm -rf bin demo
