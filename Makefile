# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go

.PHONY: setup run test chaos lint check-generate generate bench fuzz build build-ApiFunction build-ClaimFunction build-SchedulerFunction build-EventsFunction

## run: the whole platform in one process on embedded defaults (PostgreSQL it
## starts itself under RUNPLANE_DATA_DIR, default ./.runplane).
run: setup
	$(GO) run ./cmd/runplane server

## setup: the Debian packages the platform needs (bubblewrap, the sandbox of
## every run's terraform); apt-get when root, else a message saying what to install.
setup:
	@bash infra/local/setup.sh

## test: formatting, vet, staticcheck, generated code up to date, then every
## test under the race detector against a throwaway PostgreSQL.
test: setup lint check-generate
	$(GO) test -race -count=1 -timeout 20m ./...

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## generate: regenerate the sqlc query code after editing queries/ or db/migrations/.
generate:
	$(GO) tool sqlc generate

## check-generate: fail when the committed generated code differs from what sqlc makes.
check-generate:
	$(GO) tool sqlc diff

## chaos: the fault drill: real runs through runplane server with agents killed
## mid-plan and mid-apply, zombie agents, database outages and kill -9 of the
## server, checking after every step that no promise broke (make test runs a
## 40 s version). CHAOS_ARGS="-duration 10m" for longer.
chaos: setup
	$(GO) run ./cmd/runplane-chaos $(CHAOS_ARGS)

## bench: in one run, beside pgbench -N on the same cluster: admission latency and
## run-create throughput; the real path (runplane server's launcher, sandboxed real
## terraform: overhead over terraform's own time, hand-off, serial queue, pool
## utilisation); agent claim, hand-off and lifecycle figures; fair share
## under a flood; claim, finish, create and tick cost (rows read and written) by
## organizations waiting; a simulated day of 50,000 organizations; policy checks;
## trigger fan-out; state read/write latency and 50 MB reads on embedded and S3+KMS
## storage. One suite: make bench BENCH_ARGS="-suite day" (see -help).
bench:
	$(GO) run ./cmd/runplane-bench $(BENCH_ARGS)

## fuzz: a short fuzzing pass over the run state machine, the state parser, the tarball
## extractor and the log's masking of sensitive values.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzNext -fuzztime 30s ./internal/run
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/state
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 30s ./internal/archive
	$(GO) test -run '^$$' -fuzz FuzzTheLogNeverShowsASecret -fuzztime 30s ./internal/agent

build:
	$(GO) build -o bin/ ./cmd/... ./functions/...

## build-<Function>: what `sam build` runs for each function of template.yaml
## (BuildMethod: makefile): a stripped linux/arm64 bootstrap in ARTIFACTS_DIR.
LAMBDA_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags="-s -w" -o $(ARTIFACTS_DIR)/bootstrap
build-ApiFunction:
	$(LAMBDA_BUILD) ./functions/api
build-ClaimFunction:
	$(LAMBDA_BUILD) ./functions/claim
build-SchedulerFunction:
	$(LAMBDA_BUILD) ./functions/scheduler
build-EventsFunction:
	$(LAMBDA_BUILD) ./functions/events
