# Two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
GO ?= go
DATA_DIR ?= ./data
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 30s

.PHONY: run run-standin build test test-short deps lint vet fuzz bench load clean

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

## fuzz: run every fuzz target for FUZZTIME each; new crashers land in testdata/fuzz
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

## bench: the benchmarks recorded in docs/perf.md
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## load: measure capacity at moderate concurrency, then offer 10x that for 60 s (loopback only).
## Clients honour Retry-After, as the API asks; LOAD_FLAGS= (empty) shows clients that ignore it.
LOAD_FLAGS ?= --honor-retry-after
load:
	$(GO) run ./cmd/dccload $(LOAD_FLAGS)

clean:
	rm -rf bin
