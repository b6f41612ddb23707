# One way to run everything; .ci/run uses these targets too.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAGE  ?= dev
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install test run package clean

# (Re)install whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .   # the keepwarm command
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# On every core: modules that share a running stack or a built package stay on one worker.
test: $(STAMP) browser
	$(BIN)/python -m pytest -n auto --dist loadgroup

# The fleet page's browser test needs headless Chromium: installed from Debian when it is
# missing and this runs as root with apt-get; elsewhere that test says why it skips.
.PHONY: browser
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    echo "installing chromium for the fleet page's browser test" && \
	    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ; } || \
	  echo "chromium not installed: the fleet page's browser test will be skipped"

# The soak at full size: 400 random models for 30 simulated days (make test runs 80).
.PHONY: soak
soak: $(STAMP)
	KEEPWARM_SOAK_MODELS=400 $(BIN)/python -m pytest -n auto tests/test_soak.py

# The fleet page's screenshots in docs/ (operations.md shows them), taken by its browser test.
.PHONY: screenshots
screenshots: $(STAMP) browser
	KEEPWARM_SCREENSHOTS=docs $(BIN)/python -m pytest -n 1 tests/test_fleet_browser.py -k fits_the_screen

# The whole service on loopback: moto, the simulator, chalice local, tick and worker.
# Flags for it: make run ARGS="--strict-models --load-seconds 90"
ARGS ?=
run: $(STAMP)
	$(BIN)/python -m local.stack --port $(PORT) $(ARGS)

# The CloudFormation (SAM) package for any stage: build/$(STAGE)/. cfn-lint checks it before
# and after the SAM transform, in a region of each partition (aws, aws-cn, aws-us-gov).
package: $(STAMP)
	$(BIN)/python -m deploy.package --stage $(STAGE)
	$(BIN)/cfn-lint --regions us-east-1 cn-north-1 us-gov-west-1 -- build/$(STAGE)/sam.json build/$(STAGE)/expanded.json

# Package, lint, then create or update the stack keepwarm-$(STAGE) by change set (boto3,
# your usual AWS credentials): make deploy STAGE=prod BUCKET=my-bucket REGION=us-west-2
# PARAMS="CmuPrices={...} KeepaliveMinutes=10". The bucket must be in REGION. docs/deploy.md.
.PHONY: deploy
deploy: deploy-args package
	$(BIN)/python -m deploy.deploy --stage $(STAGE) --bucket $(BUCKET) --region $(REGION) \
	  --build build/$(STAGE) --params "$$PARAMS"

.PHONY: deploy-args
deploy-args:
	@test -n "$(BUCKET)" && test -n "$(REGION)" || \
	  { echo 'usage: make deploy STAGE=prod BUCKET=my-bucket REGION=us-west-2 [PARAMS="Name=value ..."]'; exit 2; }

# Benchmarks, each rewriting its own section of docs/benchmarks.md (about 15 minutes in all on
# two busy cores): keepwarm against the crons teams run, with users calling, family by family
# (bench/scenarios/, and docs/timeline.png, docs/timeline-billing.png); the tick with 1,000 and
# 10,000 models due in the same minute; a thousand models opening at once (bench-load); the
# fleet view at 1,000 and 10,000 models (bench-fleet).
FAMILIES := documented big-models heavy-tails odd-windows release-5 release-5-hold release-60 release-jitter billing-load
.PHONY: bench bench-simulate bench-tick
bench: bench-simulate bench-tick bench-load bench-fleet

bench-simulate: $(STAMP)
	$(BIN)/python -m bench.simulate $(foreach f,$(FAMILIES),--scenario bench/scenarios/$(f).json) --out docs/benchmarks.md --png docs/timeline.png

bench-tick: $(STAMP)
	$(BIN)/python -m bench.tick_scaling --sizes 1000 10000 --out docs/benchmarks.md

# GET /fleet, /status and the dashboard widget for 1,000 and 10,000 models (its own section).
.PHONY: bench-fleet
bench-fleet: $(STAMP)
	$(BIN)/python -m bench.fleet_view --sizes 1000 10000 --out docs/benchmarks.md

# A thousand models opening at the same minute with 10% throttling (in-memory store), and
# two hundred on DynamoDB (moto's server slows down sharply past a few hundred).
.PHONY: bench-load
bench-load: $(STAMP)
	$(BIN)/python -m bench.load --models 1000 --store memory
	$(BIN)/python -m bench.load --models 200 --store dynamo

# Mutation testing of the planner and the timeline with the tests that cover them (not in CI:
# it takes a while). Prints the share of mutants killed per module and lists the survivors.
.PHONY: mutate
mutate: $(STAMP)
	rm -rf mutants
	KEEPWARM_TEST_BUDGET_SCALE=30 $(BIN)/mutmut run --max-children 2 > /dev/null || true
	$(BIN)/python -m tools.mutation_report

clean:
	rm -rf $(VENV) .pytest_cache build mutants
