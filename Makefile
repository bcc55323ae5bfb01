# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := cpu,onnx,openvino,detect,dev
DEMO := runs/demo

.PHONY: setup demo test test-all docs bench doctor clean

setup: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

# A photo that ships inside an installed package (insightface's group photo).
REAL_PHOTO = $(shell $(PY) -c "from lotr_gluon.data.detector import bundled_photo; print(bundled_photo())" 2>/dev/null)
SYNTH := data/synth

$(SYNTH)/.complete: | setup
	$(PY) tools/make_synthetic.py --out $(SYNTH) --num 2000 --seed 0
	touch $@

# The paper's preprocessing: the detector's box and five points for every face (resumable).
$(SYNTH)/detections/.complete: $(SYNTH)/.complete
	$(PY) tools/detect_faces.py --data $(SYNTH)
	touch $@

demo: setup $(SYNTH)/.complete $(SYNTH)/detections/.complete
	$(PY) tools/summary.py
	if [ -f $(DEMO)/last.ckpt ]; then $(PY) tools/train.py --resume $(DEMO); \
	else $(PY) tools/train.py --config experiments/demo_synthetic.yaml --out $(DEMO); fi
	$(PY) tools/eval.py --checkpoint $(DEMO) --out $(DEMO) --linear-floor
	$(PY) tools/eval.py --checkpoint $(DEMO) --align-source detector --out $(DEMO)/by_detector \
	    --linear-floor
	$(PY) tools/export.py --checkpoint $(DEMO) --out $(DEMO)/export --onnx
	$(PY) tools/predict.py $(SYNTH)/test/picture/synth_001999.jpg $(REAL_PHOTO) \
	    --model $(DEMO)/export --out $(DEMO)/predictions --flip
	$(PY) tools/demo_report.py $(DEMO) --factor 3 --also $(DEMO)/by_detector

# In-process tests run MXNet on one thread, so two test processes use both cores. Tests are
# handed out one by one (a module fixture may then be built in both processes), which
# balances the two better than keeping each file in one: the longest file bounded the run.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist load

test: setup
	$(PYTEST) -m "not slow"

test-all: setup
	$(PYTEST)

# Every link, anchor, image and command flag in README.md and docs/ resolves (offline).
docs: setup
	$(PY) -m pytest -q tests/test_docs.py

bench: setup
	$(PY) tools/summary.py
	$(PY) tools/benchmark.py --model lotr_m --backend all --markdown --json runs/bench/lotr_m.json
	$(PY) tools/benchmark.py --loader
	$(PY) tools/benchmark.py --compare lotr_m heatmap_m heatmap_m_vec cnn_ffn_m

doctor: setup
	$(PY) tools/doctor.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
