"""Speed measurements behind ``tools/benchmark.py``: timing, inference backends, the loader."""
