# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: run demo test reliability lint format messages docs-screenshots clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## Start npsloop on SQLite with the built-in worker; emails go to the outbox.
run: $(STAMP)
	$(VENV)/bin/npsloop serve

## Load the demo organization (sign in as demo@example.com / demo-password).
demo: $(STAMP)
	$(VENV)/bin/npsloop demo

## Lint, then the whole test suite (browser tests need Debian's chromium).
test: $(STAMP)
	scripts/ensure-chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

## The fault-and-load suite (tests/reliability), also run by CI: real processes on 127.0.0.1,
## Redis and a PostgreSQL server of its own (initdb in a temporary directory, restarted
## once, removed after). It stops itself after RELIABILITY_TIMEOUT (300) s; `timeout` is
## the backstop should its clean-up hang.
reliability: $(STAMP)
	NPSLOOP_RELIABILITY=1 timeout --foreground --kill-after=60 $$(( $${RELIABILITY_TIMEOUT:-300} + 120 )) \
		$(VENV)/bin/pytest -p no:cacheprovider tests/reliability -s

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Retake the screenshots in docs/images/ (the browser test that also checks what they show).
docs-screenshots: $(STAMP)
	scripts/ensure-chromium
	NPSLOOP_DOC_SCREENSHOTS=1 $(VENV)/bin/pytest -p no:cacheprovider tests/browser/test_docs_screenshots.py

## Refresh the German translation catalogue and compile it.
messages: $(STAMP)
	cd npsloop && ../$(VENV)/bin/django-admin makemessages -l de --settings tests.settings --pythonpath ..
	cd npsloop && ../$(VENV)/bin/django-admin compilemessages --settings tests.settings --pythonpath ..

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
