# Two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
GO ?= go
DATA_DIR ?= ./data
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 30s

.PHONY: run run-standin build test test-short deps lint vet fuzz bench load queueload compare chaos ha ha-test ha-bench clean

## run: start the service on the embedded store with a development key and the stand-in identity
## provider (127.0.0.1:8091); prints a provider credential and the citizens' page address
IDP_LISTEN ?= 127.0.0.1:8091
run: build
	DCC_DATA_DIR=$(DATA_DIR) ./bin/dccctl devsetup
	./bin/dccidp --listen $(IDP_LISTEN) & echo $$! > bin/dccidp.pid; \
	trap 'kill $$(cat bin/dccidp.pid) 2>/dev/null' EXIT; \
	echo "citizens' page: http://$${DCC_LISTEN:-127.0.0.1:8080}/ (sign in with the stand-in identity provider at http://$(IDP_LISTEN))"; \
	DCC_DATA_DIR=$(DATA_DIR) DCC_OIDC_ISSUER=http://$(IDP_LISTEN) DCC_CITIZEN_SANDBOX=true ./bin/dccd

## run-standin: as `run`, but against the stand-in population register (faults switchable at run time)
run-standin: build
	DCC_DATA_DIR=$(DATA_DIR) ./bin/dccctl devsetup
	./bin/dccregister --listen 127.0.0.1:8090 & echo $$! > bin/dccregister.pid; \
	./bin/dccidp --listen $(IDP_LISTEN) & echo $$! > bin/dccidp.pid; \
	trap 'kill $$(cat bin/dccregister.pid) $$(cat bin/dccidp.pid) 2>/dev/null' EXIT; \
	echo "citizens' page: http://$${DCC_LISTEN:-127.0.0.1:8080}/"; \
	DCC_DATA_DIR=$(DATA_DIR) DCC_REGISTER_URL=http://127.0.0.1:8090 DCC_OIDC_ISSUER=http://$(IDP_LISTEN) DCC_CITIZEN_SANDBOX=true ./bin/dccd

build:
	$(GO) build -o bin/ ./cmd/...

## test: every test, race detector on, PostgreSQL included (a throwaway server unless DATABASE_URL is set)
test: deps vet
	$(GO) test -race -count=1 ./...

## test-short: the same without the race detector, for a quick loop
test-short:
	$(GO) test -count=1 ./...

## deps: what the tests need from Debian and npm, installed only when missing
deps:
	@.ci/deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

lint: vet
	$(GO) run $(STATICCHECK) -checks inherit,ST1020,ST1021,ST1022 ./...

## fuzz: run every fuzz target for FUZZTIME each (CI: 5s). An input that fails is written to the
## package's testdata/fuzz/<target>/, where `go test` runs it from then on as a regression case:
## commit it with the fix.
fuzz:
	@set -e; for dir in $$(grep -l '^func Fuzz' $$(find . -name '*_test.go' -not -path './.git/*') | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //'); do \
	    echo "== $$dir $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$dir || { \
	      echo "fuzz: $$f found a failing input; new regression cases to commit with the fix:"; \
	      git status --short --untracked-files=all -- '*testdata/fuzz/*'; exit 1; }; \
	  done; done

## bench: the benchmarks recorded in docs/perf.md
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## load: measure capacity at moderate concurrency, then offer 10x that for 60 s (loopback only).
## Clients honour Retry-After, as the API asks; LOAD_FLAGS= (empty) shows clients that ignore it.
LOAD_FLAGS ?= --honor-retry-after
load:
	$(GO) run ./cmd/dccload $(LOAD_FLAGS)

## queueload: 100,000 citizens arriving within a minute at a dccd whose virtual queue admits 500 a
## second, following the waiting answers, with attackers and providers issuing meanwhile (loopback,
## about four minutes); figures in docs/perf.md.
QUEUELOAD_FLAGS ?= --visitors 100000 --arrive 60s --rate 500 --max 5m --baseline 15s --attacks 1000 --providers 4 --provider-rate 100
queueload:
	nice $(GO) run ./cmd/dccqueueload $(QUEUELOAD_FLAGS)

## compare: the Dutch peer, dccd on the embedded store and dccd on PostgreSQL side by side (loopback,
## about two minutes): answers a second, p50, p99, the ratio, and each dccd at 80% of its peak.
## PEER is the peer's hcert binary (the CI copy of shared/ sits beside the clone).
PEER ?= ../shared/peers/hcert/hcert
COMPARE_FLAGS ?= --clients 32 --measure 20s
compare:
	$(GO) run ./cmd/dccload --compare --peer $(abspath $(PEER)) $(COMPARE_FLAGS)

## chaos: the fault suite under issuance load (kill -9, database and register outages, a full disk,
## SIGTERM, restart time), loopback only, a few minutes; figures in docs/reliability.md.
## The full-disk scenario mounts a tmpfs, so it needs root (as in CI). CHAOS_FLAGS="--only kill --keep".
CHAOS_FLAGS ?=
chaos: deps
	$(GO) run ./cmd/dccchaos $(CHAOS_FLAGS)

## ha: the high-availability topology on loopback: etcd, three Patroni-managed PostgreSQL 15 nodes
## (strict synchronous replication) and two dccd replicas; issues round robin through both for
## 20 s and tears it all down. HA_FLAGS=--hold keeps it up until Ctrl-C (prints URLs and a key).
HA_FLAGS ?=
ha:
	@.ci/deps.sh ha
	$(GO) run ./cmd/dccha up $(HA_FLAGS)

## ha-test: the failover proof (docs/deploy.md): under continuous issuance, kill the primary's
## postmaster, then a whole primary node, then a dccd replica; no acknowledged certificate may be
## lost or duplicated and each write outage must stay under its limit
ha-test:
	@.ci/deps.sh ha
	$(GO) run ./cmd/dccha test $(HA_FLAGS)

## ha-bench: issuance through one dccd on its own (the reference), then one and two replicas over
## the cluster, interleaved in rounds (docs/perf.md)
ha-bench:
	@.ci/deps.sh ha
	nice $(GO) run ./cmd/dccha bench $(HA_FLAGS)

clean:
	rm -rf bin
