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

test: $(STAMP)
	$(BIN)/python -m pytest

# The whole service on loopback: moto, the simulator, chalice local, tick and worker.
run: $(STAMP)
	$(BIN)/python -m local.stack --port $(PORT)

# The CloudFormation (SAM) package for a stage, checked with cfn-lint: build/$(STAGE)/.
package: $(STAMP)
	$(BIN)/python -m deploy.package --stage $(STAGE)
	$(BIN)/cfn-lint build/$(STAGE)/sam.json

clean:
	rm -rf $(VENV) .pytest_cache build
