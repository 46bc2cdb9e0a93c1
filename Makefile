# The two README commands: `make run` (the whole app, embedded) and `make test` (what CI runs).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# Holds the sha256 of pyproject.toml it was installed from; .ci/test.sh reads it too.
STAMP := $(VENV)/.installed

.PHONY: run test lint venv fuzz audit

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	sha256sum pyproject.toml > $@

run: venv
	$(VENV)/bin/python -m ibt_companion.launcher

test:
	bash .ci/test.sh

# The schema fuzz test, long (the suite runs 10 examples per operation, role and mode).
FUZZ_EXAMPLES ?= 200
fuzz: venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) DJANGO_SETTINGS_MODULE=ibt_companion.settings.test \
		$(VENV)/bin/python -m pytest -p no:cacheprovider tests/test_api_fuzz.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Known vulnerabilities in the installed, pinned packages. Needs a vulnerability database
# (PyPI's JSON API or OSV) on the network, so it is not a stage of `make test` (docs/security.md).
audit: venv
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip-audit
	$(VENV)/bin/python -m pip freeze --exclude-editable > $(VENV)/pinned.txt
	$(VENV)/bin/pip-audit --strict --requirement $(VENV)/pinned.txt --no-deps --disable-pip
