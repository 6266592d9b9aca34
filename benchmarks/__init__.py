"""The results benchmark behind ``tools/benchmark.py``: what to train (:mod:`.plan`),
how to run it cached and resumable (:mod:`.runner`), what each run keeps (:mod:`.records`),
the tables (:mod:`.report`), a profile's RESULTS section and results document
(:mod:`.section`), deploy costs (:mod:`.costs`), figures (:mod:`.figures`), one
invocation from training to section (:mod:`.session`), the training overhead of
distillation (:mod:`.overhead`) and the scripts of ``tools/`` it reuses (:mod:`.scripts`).

Tooling beside ``tools/``, not part of the installed core: ``tools/benchmark.py`` and the
tests put the repository root on ``sys.path`` to import it."""
