"""The reproduction harness behind ``tools/reproduce.py``: plan, run, report."""
