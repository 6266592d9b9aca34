"""Facts about the installed detectron2 and torch that the tools branch on.

d2kd runs on detectron2 v0.6 (including the pure-Python build that
tools/install_detectron2.py makes) and on upstream detectron2 main; what
differs between them is detected here, in one place.
"""
import importlib

INSTALL_HINT = (
    "Install it with `make setup` (creates .venv with a pure-Python detectron2 v0.6), "
    "or into your own environment with `python tools/install_detectron2.py`, "
    "or build detectron2 from source for its compiled CUDA ops "
    "(https://detectron2.readthedocs.io/en/latest/tutorials/install.html)."
)


def require_detectron2():
    """Import detectron2, or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module("detectron2")
    except ImportError as e:
        raise ImportError(f"detectron2 is not installed ({e}). {INSTALL_HINT}") from e


def has_compiled_ops() -> bool:
    """True if detectron2._C is a compiled extension (not the pure-Python fallback)."""
    try:
        compiled = importlib.import_module("detectron2._C")
    except ImportError:
        return False
    return not str(getattr(compiled, "__file__", "")).endswith(".py")


def resolve_device(requested) -> str:
    """Map a config's ``train.device`` to a torch device string.

    ``None`` or ``"auto"`` give ``"cuda"`` when a GPU is visible, else ``"cpu"``.
    An explicit ``"cuda"`` without a GPU is an error (raised before training).
    """
    import torch

    if requested in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    requested = str(requested)
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"train.device={requested!r} but no CUDA device is visible. "
            "Use train.device=cpu (or auto), or run on a machine with a GPU."
        )
    return requested
