# One command per task. Every target sets up what it needs from the repo's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv test test310 unit functional lint format typecheck emulator demo serve bench bench-scale soak screenshot policy layer package clean

help:
	@echo "make test       the whole test suite (creates .venv on first use)"
	@echo "make lint       ruff check, ruff format --check, mypy --strict on handler/"
	@echo "make emulator   run the local CI emulator on 127.0.0.1:9100"
	@echo "make demo       the main job on the embedded default (emulator, file store, local receiver)"
	@echo "make serve      the HTTP API and status page on 127.0.0.1:9300 with the emulator, a receiver and a timer"
	@echo "make bench      benchmarks: the sweep against a describe-each-job poller, objects, status-page reads, many buckets, a delivery backlog"
	@echo "make bench-scale memory, documents and requests at the sizes jobwatch is built for (about 25 minutes)"
	@echo "make soak       minutes of sweeps over thousands of jobs with faults and kills; checks nothing is lost"
	@echo "make screenshot regenerate docs/status-page.png (needs Debian's chromium and chromium-driver)"
	@echo "make policy     the execution role's CAM policy for BUCKETS= (bucket@region,… or discover:<regions>)"

venv: $(STAMP)

$(STAMP): requirements-dev.txt layers/deps/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# put handler/ and the repo root on the venv's path, so local tools import jobwatch and devkit
	$(BIN)/python -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], 'jobwatch-dev.pth').write_text('$(CURDIR)/handler\n$(CURDIR)\n')"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# SCF runs Python 3.10: run the suite there too when this machine has one (pyenv keeps it under ~/.pyenv).
PY310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10))

test310:
	@if [ -z "$(PY310)" ]; then echo "no python3.10 on this machine: skipping the 3.10 run"; else \
	  test -x .venv310/bin/python || $(PY310) -m venv .venv310; \
	  .venv310/bin/python -m pip install --quiet -r requirements-dev.txt && .venv310/bin/python -m pytest -q; fi

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

functional: $(STAMP)
	$(BIN)/python -m pytest tests/functional

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

emulator: $(STAMP)
	$(BIN)/python -m devkit.ciemu --port 9100 --jobs 20

demo: $(STAMP)
	$(BIN)/python -m devkit.demo

serve: $(STAMP)
	$(BIN)/python -m devkit.apiserver --with-emulator

bench: $(STAMP)
	$(BIN)/python -m bench.sweep_bench --write
	$(BIN)/python -m bench.objects_bench
	$(BIN)/python -m bench.page_bench
	$(BIN)/python -m bench.fanout_bench --write
	$(BIN)/python -m bench.backlog_bench --write

bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale_bench --write

soak: $(STAMP)
	$(BIN)/python -m devkit.soak

screenshot: $(STAMP)
	$(BIN)/python -m devkit.screenshot

# e.g. make policy BUCKETS="media-1250000000@ap-guangzhou clips-1250000000@ap-shanghai" \
#        STORE=s3://jobwatch-store-1250000000/jobwatch STORE_REGION=ap-guangzhou UIN=100000000001
BUCKETS ?= $(JOBWATCH_CI_BUCKETS)
STORE ?= $(JOBWATCH_STORE)
STORE_REGION ?= $(REGION)
UIN ?= $${Uin}
FUNCTION ?= default/jobwatch
policy: $(STAMP)
	@$(BIN)/python -m devkit.policy --buckets "$(BUCKETS)" --store "$(STORE)" --store-region "$(STORE_REGION)" \
	  --uin '$(UIN)' --function "$(FUNCTION)" $(if $(CHAIN),--chain "$(CHAIN)") $(if $(APPID),--appid "$(APPID)") \
	  $(if $(ACT),--act)

layer: $(STAMP)
	$(BIN)/python -m devkit.build layer

package: $(STAMP)
	$(BIN)/python -m devkit.build package

clean:
	rm -rf $(VENV) .venv310 .pytest_cache .mypy_cache .ruff_cache .hypothesis build
