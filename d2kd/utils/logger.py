"""Logging set-up for d2kd's own modules."""
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

PROJECT_LOGGERS = ("d2kd", "dfmsd", "mkd")


def setup_project_loggers(output_dir: str):
    """Send the d2kd, dfmsd and mkd loggers to the console and ``output_dir/log.txt``.

    detectron2's ``default_setup`` configures only its own and fvcore's loggers.
    """
    for name in PROJECT_LOGGERS:
        setup_logger(output_dir, distributed_rank=comm.get_rank(), name=name, abbrev_name=name)
