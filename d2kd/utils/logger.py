"""Logging set-up for d2kd's own modules."""
import contextlib
import logging
import os
from typing import Iterator, List, Sequence

from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

PROJECT_LOGGERS = ("d2kd", "dfmsd", "mkd")
# the loggers whose warnings before training buffered_warnings keeps for the run's log.txt
CHECK_LOGGERS = ("detectron2",) + PROJECT_LOGGERS


def setup_project_loggers(output_dir: str):
    """Send the d2kd, dfmsd and mkd loggers to the console and ``output_dir/log.txt``.

    detectron2's ``default_setup`` configures only its own and fvcore's loggers.
    """
    for name in PROJECT_LOGGERS:
        setup_logger(output_dir, distributed_rank=comm.get_rank(), name=name, abbrev_name=name)


class _KeepWarnings(logging.Handler):
    """Appends every warning (or worse) it is given to ``records``; shows it through ``echo``
    too (the handler that would have shown it without this one), when given."""

    def __init__(self, records: List[logging.LogRecord], echo=None):
        super().__init__(logging.WARNING)
        self.records = records
        self.echo = echo

    def emit(self, record):
        self.records.append(record)
        if self.echo is not None and record.levelno >= self.echo.level:
            self.echo.handle(record)


@contextlib.contextmanager
def buffered_warnings(names: Sequence[str] = CHECK_LOGGERS) -> Iterator[List[logging.LogRecord]]:
    """Keep the warnings that the ``names`` loggers (and their children) log inside the block.

    The checks before training run before the run's ``log.txt`` exists (nothing is written to
    the output folder until they pass); their warnings (odd boxes, a teacher's class count)
    reach the console as before, and are kept in the yielded list, so that
    :func:`write_to_log_file` can add them to ``log.txt`` once detectron2 writes it.
    """
    records: List[logging.LogRecord] = []
    added = []
    for name in names:
        logger = logging.getLogger(name)
        # a logger without handlers on its way up shows warnings through Python's last resort
        # (stderr); a handler added here would silence that, so it shows them itself
        echo = None if logger.hasHandlers() else logging.lastResort
        handler = _KeepWarnings(records, echo)
        logger.addHandler(handler)
        added.append((logger, handler))
    try:
        yield records
    finally:
        for logger, handler in added:
            logger.removeHandler(handler)


def log_file_path(output_dir: str) -> str:
    """The log file detectron2's ``setup_logger`` writes in ``output_dir`` for this process."""
    path = os.path.join(output_dir, "log.txt")
    rank = comm.get_rank()
    return path if rank == 0 else f"{path}.rank{rank}"


def write_to_log_file(records: Sequence[logging.LogRecord], output_dir: str) -> bool:
    """Write ``records`` (from :func:`buffered_warnings`) to ``output_dir``'s ``log.txt``, in
    its format, not to the console again. Call after ``default_setup``; returns whether a
    handler of that file was found (False: nothing written)."""
    path = os.path.abspath(log_file_path(output_dir))
    for handler in logging.getLogger("detectron2").handlers:
        name = getattr(getattr(handler, "stream", None), "name", None)
        if isinstance(handler, logging.StreamHandler) and isinstance(name, str) and os.path.abspath(name) == path:
            for record in records:
                handler.handle(record)
            handler.flush()
            return True
    return False
