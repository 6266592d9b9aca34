"""The results benchmark behind ``tools/benchmark.py``: what to train (:mod:`.plan`),
how to run it cached and resumable (:mod:`.runner`), and the tables (:mod:`.report`)."""
