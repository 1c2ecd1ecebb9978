# Helpline Assistant. `make run` starts it, `make test` runs every test; both install,
# build and train first when needed. `make help` lists the other targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
SPACY_DIR := build/spacy/helpline_en
export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help install nlp crisis-model train run test test-browser test-unit test-conversations lint validate content-check nlu-report unanswered retention migrate audit crisis-report eval latency bench load lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements-embed.lock scripts/find-python310
	@echo "==> Creating the virtual environment with Python 3.10"
	@PY310="$$(scripts/find-python310)" && "$$PY310" -m venv $(VENV)
	@echo "==> Installing pinned dependencies (first time: several minutes)"
	$(VENV)/bin/pip install --quiet --progress-bar on --upgrade "pip<24.1"
	$(VENV)/bin/pip install --progress-bar on -r requirements.lock
	$(VENV)/bin/pip install --progress-bar on --no-deps --require-hashes -r requirements-embed.lock
	@touch $(STAMP)

install: $(STAMP) ## create .venv with Python 3.10 and install requirements.lock

nlp: install ## build the project's spaCy pipeline (only when the lexicon or code changed)
	@$(PY) -m bot.nlu.spacy_pipeline build $(SPACY_DIR)

crisis-model: nlp ## train the crisis screen's semantic classifier on the corpus's train split (only when it changed)
	@$(PY) -m bot.crisis.semantic build

train: content-check crisis-model ## train the Rasa model (only when data, domain or config changed; content errors stop it)
	@$(PY) -m bot.ops.train

run: train ## install, build, train as needed, then start Rasa (5005) and the action server (5055)
	@$(PY) -m bot.ops.run

validate: install ## check domain, NLU data, rules and stories (fails on warnings)
	@$(PY) -m bot.content.validate

test-unit: crisis-model ## unit tests: crisis rules, actions, handoff store, components
	$(PY) -m pytest tests -m "not e2e" -q

test-conversations: train ## conversation tests: every topic, every tier, repeated questions, crisis in forms
	@$(PY) -m bot.content.conversation_tests

lint: install ## ruff over the code, mypy over bot/crisis, bot/handoff and bot/storage (settings in pyproject.toml)
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/mypy

test: train ## everything: lint, content checks, validation, conversation tests, unit, end-to-end and browser tests, NLU gate
	@scripts/ensure-test-tools
	@$(MAKE) --no-print-directory lint
	@$(PY) -m bot.content.validate
	@$(PY) -m bot.content.conversation_tests
	$(PY) -m pytest tests -q -rs
	@$(PY) -m bot.content.nlu_report --gate

test-browser: train ## the browser tests only (widget, console, rasa-webchat); screenshots in test-artifacts/
	@scripts/ensure-test-tools
	$(PY) -m pytest tests/e2e/test_browser.py -q -rs

content-check: nlp ## check examples, answers, safe messaging and crisis rules: file:line and what to do
	@$(PY) -m bot.content.check

nlu-report: nlp ## NLU quality report in results/nlu-report/index.html: F1 per intent, confusion, worst examples (~2 min)
	@$(PY) -m bot.content.nlu_report

unanswered: install ## what visitors asked that the assistant could not answer (DAYS=30): results/unanswered/
	@$(PY) -m bot.content.unanswered $(if $(DAYS),--days $(DAYS))

migrate: install ## upgrade the helpline database to this release's schema (servers do it at start unless HELPLINE_AUTO_MIGRATE=false)
	@$(PY) -m bot.storage.migrate upgrade

retention: install ## erase conversations idle for DAYS days (default HELPLINE_RETENTION_DAYS or 30); DRY_RUN=1 only counts
	@$(PY) -m bot.ops.retention $(if $(DAYS),--days $(DAYS)) $(if $(DRY_RUN),--dry-run)

# pip-audit lives in a virtual environment of its own (build/audit), never in requirements.lock.
# Accepted findings: add `--ignore-vuln <ID>` here AND a row in docs/security.md saying why.
PIP_AUDIT := build/audit/bin/pip-audit
PIP_AUDIT_VERSION := 2.10.1
AUDIT_IGNORE :=

audit: ## known vulnerabilities in requirements.lock and requirements-embed.lock (pip-audit; fails when a package could not be checked)
	@test -x $(PIP_AUDIT) || { "$$(scripts/find-python310)" -m venv build/audit && \
		build/audit/bin/pip install --quiet "pip-audit==$(PIP_AUDIT_VERSION)"; }
	$(PIP_AUDIT) -r requirements.lock -r requirements-embed.lock --no-deps --disable-pip --strict --progress-spinner off --desc on $(AUDIT_IGNORE)

crisis-report: crisis-model ## crisis screen on the FROZEN test split (per tier, language, kind) and the rules' labelled set
	@$(PY) -m bot.crisis.report

eval: train ## measure the assistant on real-world messages and held-out FAQ phrasings (never trained on)
	@$(PY) -m bot.content.evaluate
	@$(PY) -m bot.content.evaluate --file tests/nlu/held_out_faq.yml

latency: ## per-message reply latency of a running assistant (start it with make run)
	@$(PY) -m bot.ops.latency

bench: train ## this assistant side by side with stock Rasa: latency, throughput, memory, training (prints figures)
	@$(PY) -m bot.ops.bench

load: install ## Socket.IO visitors against a running assistant (URL VISITORS SECONDS PACE): latency, throughput; exit 1 if any message is lost
	@$(PY) -m bot.ops.load $(if $(URL),--url "$(URL)") $(if $(VISITORS),--visitors $(VISITORS)) \
		$(if $(SECONDS),--seconds $(SECONDS)) $(if $(PACE),--pace $(PACE)) $(if $(TIMEOUT),--timeout $(TIMEOUT))

lock: ## regenerate requirements.lock from requirements.in in a fresh environment
	rm -rf /tmp/helpline-lock && "$$(scripts/find-python310)" -m venv /tmp/helpline-lock
	/tmp/helpline-lock/bin/pip install --quiet "pip<24.1" && /tmp/helpline-lock/bin/pip install -r requirements.in
	/tmp/helpline-lock/bin/pip freeze --exclude-editable > requirements.lock

clean: ## remove build output, models and local databases (keeps .venv)
	rm -rf build models results var .rasa test-artifacts
