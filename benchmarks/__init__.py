"""The results benchmark behind ``tools/benchmark.py``: what to train (:mod:`.plan`),
how to run it cached and resumable (:mod:`.runner`), and the tables (:mod:`.report`).

Tooling beside ``tools/``, not part of the installed core: ``tools/benchmark.py`` and the
tests put the repository root on ``sys.path`` to import it."""
