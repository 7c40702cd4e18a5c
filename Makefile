# cove's everyday targets. `make test` is the test command CI runs.
GO ?= go
# staticcheck, pinned; `go run` fetches it through the module proxy once.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0

# The version cove reports (`cove version`, the sidecars' metadata): the
# nearest v* tag, else dev+<commit>, with .dirty for uncommitted changes.
VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' --dirty=.dirty 2>/dev/null) && echo $${v\#v} || \
	echo dev+$$(git rev-parse --short=12 HEAD 2>/dev/null)$$(git diff --quiet HEAD 2>/dev/null || echo .dirty))
LDFLAGS := -X github.com/cove-env/cove/internal/control.Version=$(VERSION)

.PHONY: build run test lint test-race test-short fuzz

# -v names each package as it compiles: the first build compiles every
# dependency (minutes on two cores); later ones take about a second.
build:
	@test -x bin/cove || echo "building bin/cove: the first build compiles every dependency, a few minutes on two cores"
	$(GO) build -v -ldflags '$(LDFLAGS)' -o bin/cove ./cmd/cove

run: build
	bin/cove up -f examples/triage/cove.yaml

# Static checks, unit, integration (real Redis/PostgreSQL) and end-to-end tests.
test: lint
	bash scripts/services.sh
	COVE_REQUIRE_SERVICES=1 $(GO) test -count=1 -timeout 20m ./...

# go vet and staticcheck, on cove and on the example's apps.
lint:
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd examples/triage && $(GO) vet ./... && $(STATICCHECK) ./...

# The packages under internal/ with the race detector (about twice as slow).
test-race:
	bash scripts/services.sh
	COVE_REQUIRE_SERVICES=1 $(GO) test -race -count=1 ./internal/...

# Without the end-to-end tests.
test-short:
	$(GO) test -short ./...

# Each fuzzer for a short while.
fuzz:
	$(GO) test ./internal/spec -run '^$$' -fuzz FuzzParseContainerApp -fuzztime 30s
	$(GO) test ./internal/spec -run '^$$' -fuzz FuzzParseComponent -fuzztime 30s
	$(GO) test ./internal/edge -run '^$$' -fuzz FuzzPublicRoute -fuzztime 30s
	$(GO) test ./internal/h1 -run '^$$' -fuzz FuzzSameAnswersAsNetHTTP -fuzztime 30s
