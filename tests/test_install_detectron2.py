"""Set-up check: tools/install_detectron2.py and the detectron2 it installed.

The real environment is only read (import, ``pip show``); every install path of
the tool runs against temporary directories with pip replaced by a recorder.
"""
import importlib
import importlib.metadata
import importlib.util
import inspect
import io
import os
import re
import subprocess
import sys
import tarfile
import time
import types

import pytest
from tool_runs import load_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "install_detectron2.py")


@pytest.fixture
def tool():
    return load_tool("install_detectron2")


def load_module_from_source(name, source, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_source_archive(dest, top=None, with_package=True):
    """A .tar.gz laid out like pb1-detectron2-0.6.tar.gz: <top>/detectron2/... ."""
    top = top or "pb1-detectron2-0.6"
    path = os.path.join(dest, f"{top}.tar.gz")
    files = {f"{top}/setup.py": "raise SystemExit('the original setup.py must not run')\n"}
    if with_package:
        files.update(
            {
                f"{top}/detectron2/__init__.py": '__version__ = "0.6"\n',
                f"{top}/detectron2/layers/__init__.py": "",
                f"{top}/detectron2/model_zoo/__init__.py": "",
                f"{top}/detectron2/model_zoo/configs/Base-RCNN-FPN.yaml": "MODEL: {}\n",
                f"{top}/detectron2/model_zoo/configs/common/train.py": "train = dict()\n",
            }
        )
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# ---------------------------------------------------------------- the real environment


def test_detectron2_is_pip_visible_in_this_environment():
    assert importlib.metadata.version("detectron2") == "0.6"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "show", "detectron2"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    fields = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    assert fields["Name"] == "detectron2"
    assert fields["Version"] == "0.6"
    import detectron2

    assert os.path.realpath(detectron2.__file__).startswith(os.path.realpath(fields["Location"]))


def test_installed_fallback_C_names_the_op_and_the_fix():
    import detectron2._C as C

    if not C.__file__.endswith(".py"):
        # a source build with its compiled extension: the op is really there
        assert callable(C.ROIAlignRotated_forward)
        return
    with pytest.raises(RuntimeError) as info:
        C.ROIAlignRotated_forward
    assert type(info.value).__name__ == "MissingCompiledOpError"
    message = str(info.value)
    assert "detectron2._C.ROIAlignRotated_forward is a compiled op" in message
    assert "build detectron2 from source" in message
    assert "git+https://github.com/facebookresearch/detectron2.git" in message
    # dunder look-ups (copy, pickle, inspect) still see a plain module
    assert not hasattr(C, "__wrapped__")
    assert C.has_cuda() is False
    # the installed file is exactly what this version of the tool writes
    with open(C.__file__) as f:
        assert f.read() == load_tool("install_detectron2").FALLBACK_C_MODULE


def compiled_op_call(module_name, op):
    """How the installed detectron2's `module_name` calls compiled op `op`.

    detectron2 v0.6 calls ``detectron2._C.<op>`` (``nms_rotated`` excepted);
    upstream main calls the rotated-box ops as ``torch.ops.detectron2.<op>``.
    A detectron2 that does neither fails the test: no silent pass.
    """
    source = inspect.getsource(importlib.import_module(module_name))
    found = []
    if f"torch.ops.detectron2.{op}(" in source:
        found.append(f"torch.ops.detectron2.{op}")
    if re.search(rf"(?<![\w.])_C\.{op}\(", source):  # `from detectron2 import _C`
        found.append(f"detectron2._C.{op}")
    assert len(found) == 1, f"{module_name} calls {op} as {found or 'neither'}: an unknown detectron2"
    return found[0]


def rotated_op_uses():
    """(op, the detectron2 module that calls it, a real CPU use, its result if compiled)."""
    import torch

    from detectron2.layers import ROIAlignRotated, nms_rotated
    from detectron2.structures import RotatedBoxes, pairwise_iou_rotated

    boxes = torch.tensor([[10.0, 10.0, 8.0, 4.0, 30.0]])
    features = torch.arange(16.0).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0.0, 2.0, 2.0, 2.0, 2.0, 15.0]])
    return [
        (
            "box_iou_rotated",
            "detectron2.layers.rotated_boxes",
            lambda: pairwise_iou_rotated(RotatedBoxes(boxes), RotatedBoxes(boxes)),
            lambda iou: torch.allclose(iou, torch.ones(1, 1)),
        ),
        (
            "nms_rotated",
            "detectron2.layers.nms",
            lambda: nms_rotated(boxes, torch.ones(1), 0.5),
            lambda keep: keep.tolist() == [0],
        ),
        (
            "roi_align_rotated_forward",
            "detectron2.layers.roi_align_rotated",
            lambda: ROIAlignRotated((2, 2), 1.0, 0)(features, rois),
            lambda out: tuple(out.shape) == (1, 1, 2, 2),
        ),
    ]


@pytest.mark.parametrize("index", range(3), ids=["box_iou_rotated", "nms_rotated", "roi_align_rotated"])
def test_installed_fallback_C_fails_where_detectron2_uses_it(index):
    """A real CPU use of a compiled op (rotated boxes: IoU, NMS, ROIAlign) raises the
    clear error, on the path the installed detectron2 takes to the op: v0.6's
    ``detectron2._C.<op>``, or main's (and v0.6 NMS's) ``torch.ops.detectron2.<op>``."""
    import detectron2._C as C

    op, module_name, use, compiled_result_ok = rotated_op_uses()[index]
    call = compiled_op_call(module_name, op)
    if not C.__file__.endswith(".py"):
        assert compiled_result_ok(use()), call
        return
    with pytest.raises(RuntimeError) as info:
        use()
    assert type(info.value).__name__ == "MissingCompiledOpError", repr(info.value)
    message = str(info.value)
    assert message.startswith(f"{call} is a compiled op"), message
    assert "build detectron2 from source" in message
    if call.startswith("torch.ops."):
        # the stub the installed fallback registered, not one left by another module
        assert isinstance(info.value, C.MissingCompiledOpError)


def test_installed_detectron2_reaches_rotated_ops_as_v06_or_main_does():
    """The op paths above are those of a known detectron2: all through _C but NMS (v0.6),
    or all through torch.ops (upstream main, since the ops were registered natively)."""
    calls = {op: compiled_op_call(module_name, op) for op, module_name, _, _ in rotated_op_uses()}
    v06 = {
        "box_iou_rotated": "detectron2._C.box_iou_rotated",
        "nms_rotated": "torch.ops.detectron2.nms_rotated",
        "roi_align_rotated_forward": "detectron2._C.roi_align_rotated_forward",
    }
    main = {op: f"torch.ops.detectron2.{op}" for op in v06}
    assert calls in (v06, main), calls


# ---------------------------------------------------------------- no-op when detectron2 works


def test_detectron2_status_reports_the_working_install(tool):
    ok, info = tool.detectron2_status()
    assert ok is True
    import detectron2

    assert info == detectron2.__version__


def test_main_is_a_fast_noop_when_detectron2_works(tool, monkeypatch, capsys):
    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"the installer must not run {args} when detectron2 works")

    monkeypatch.setattr(tool, "pip", forbidden)
    monkeypatch.setattr(tool, "download_sources", forbidden)
    monkeypatch.setattr(tool.subprocess, "check_call", forbidden)
    start = time.monotonic()
    assert tool.main([]) == 0
    elapsed = time.monotonic() - start
    assert calls == []
    # one import check in a subprocess (a few seconds on a loaded 2-core machine);
    # an install would download and pip-install for a minute or more
    assert elapsed < 45, elapsed
    assert "already works" in capsys.readouterr().out


def test_tool_script_second_run_installs_nothing():
    start = time.monotonic()
    proc = subprocess.run([sys.executable, TOOL], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do" in proc.stdout
    assert "+ " + sys.executable not in proc.stdout  # no pip command was echoed
    assert elapsed < 60, elapsed


# ---------------------------------------------------------------- the install path, on tmp dirs


class PipRecorder:
    """Stands in for the tool's ``pip``: records calls; ``download`` writes an archive."""

    def __init__(self, archive_maker=fake_source_archive):
        self.calls = []
        self.archive_maker = archive_maker
        self.staged = None

    def __call__(self, *args):
        self.calls.append(args)
        if args[0] == "download":
            self.archive_maker(args[args.index("--dest") + 1])
        elif args[0] == "install":
            stage = args[-1]
            self.staged = {
                os.path.relpath(os.path.join(root, name), stage)
                for root, _, names in os.walk(stage)
                for name in names
            }


def test_main_installs_when_detectron2_is_missing(tool, monkeypatch, capsys):
    statuses = iter([(False, "ModuleNotFoundError: No module named 'detectron2'"), (True, "0.6")])
    monkeypatch.setattr(tool, "detectron2_status", lambda: next(statuses))
    recorder = PipRecorder()
    monkeypatch.setattr(tool, "pip", recorder)
    assert tool.main([]) == 0
    kinds = [c[0] for c in recorder.calls]
    assert kinds == ["download", "install"]
    download = recorder.calls[0]
    assert "pb1-detectron2==0.6" in download and "--no-deps" in download
    assert "--no-build-isolation" in recorder.calls[1]
    assert {"setup.py", "detectron2/_C.py", "detectron2/__init__.py"} <= recorder.staged
    assert "detectron2/model_zoo/configs/common/train.py" in recorder.staged
    out = capsys.readouterr().out
    assert "does not import (ModuleNotFoundError" in out
    assert "installed (pure Python" in out


def test_main_force_reinstalls_a_working_detectron2(tool, monkeypatch):
    monkeypatch.setattr(tool, "detectron2_status", lambda: (True, "0.6"))
    recorder = PipRecorder()
    monkeypatch.setattr(tool, "pip", recorder)
    assert tool.main(["--force"]) == 0
    assert [c[0] for c in recorder.calls] == ["download", "install"]


def test_main_fails_clearly_when_the_install_does_not_import(tool, monkeypatch):
    statuses = iter([(False, "ImportError: x"), (False, "ImportError: y is broken")])
    monkeypatch.setattr(tool, "detectron2_status", lambda: next(statuses))
    monkeypatch.setattr(tool, "pip", PipRecorder())
    with pytest.raises(SystemExit) as info:
        tool.main([])
    assert "installed but does not import: ImportError: y is broken" in str(info.value)


def test_main_needs_torch_first(tool, monkeypatch):
    monkeypatch.setattr(tool, "detectron2_status", lambda: (False, "no detectron2"))
    recorder = PipRecorder()
    monkeypatch.setattr(tool, "pip", recorder)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(SystemExit) as info:
        tool.main([])
    assert "torch must be installed before detectron2" in str(info.value)
    assert recorder.calls == []


def test_download_sources_extracts_the_archive(tool, monkeypatch, tmp_path):
    recorder = PipRecorder()
    monkeypatch.setattr(tool, "pip", recorder)
    tree = tool.download_sources(str(tmp_path))
    assert tree == os.path.join(str(tmp_path), "pb1-detectron2-0.6")
    assert os.path.isfile(os.path.join(tree, "detectron2", "__init__.py"))
    assert "--no-binary" in recorder.calls[0] and ":all:" in recorder.calls[0]


def test_download_sources_rejects_an_archive_without_detectron2(tool, monkeypatch, tmp_path):
    recorder = PipRecorder(lambda dest: fake_source_archive(dest, with_package=False))
    monkeypatch.setattr(tool, "pip", recorder)
    with pytest.raises(RuntimeError, match="does not hold a detectron2 package"):
        tool.download_sources(str(tmp_path))


def test_download_sources_wants_exactly_one_archive(tool, monkeypatch, tmp_path):
    def two_archives(dest):
        fake_source_archive(dest)
        fake_source_archive(dest, top="pb1-detectron2-0.5")

    monkeypatch.setattr(tool, "pip", PipRecorder(two_archives))
    with pytest.raises(RuntimeError, match="Expected one source archive"):
        tool.download_sources(str(tmp_path))


def test_staged_package_has_our_setup_py_and_fallback_C(tool, tmp_path):
    with tarfile.open(fake_source_archive(str(tmp_path))) as tar:
        tar.extractall(tmp_path, filter="data")
    stage = tmp_path / "stage"
    stage.mkdir()
    tool.stage_pure_python_package(str(tmp_path / "pb1-detectron2-0.6"), str(stage))
    assert (stage / "detectron2" / "_C.py").read_text() == tool.FALLBACK_C_MODULE
    assert (stage / "detectron2" / "model_zoo" / "configs" / "Base-RCNN-FPN.yaml").is_file()
    setup_py = (stage / "setup.py").read_text()
    assert "the original setup.py" not in setup_py
    compile(setup_py, "setup.py", "exec")
    assert 'name="detectron2"' in setup_py and 'version="0.6"' in setup_py


def test_generated_setup_py_declares_detectron2_and_its_bounds(tool, monkeypatch):
    seen = {}
    stub = types.ModuleType("setuptools")
    stub.setup = lambda **kwargs: seen.update(kwargs)
    stub.find_packages = lambda include=(): list(include)
    monkeypatch.setitem(sys.modules, "setuptools", stub)
    source = tool.SETUP_PY.format(version="0.6", source="pb1-detectron2", requirements=tool.REQUIREMENTS)
    exec(compile(source, "setup.py", "exec"), {"__name__": "__main__"})
    assert seen["name"] == "detectron2"
    assert seen["version"] == "0.6"
    assert "ext_modules" not in seen  # no C++ extension to build
    requires = seen["install_requires"]
    for bound in ("numpy<1.24", "setuptools<81", "fvcore>=0.1.5,<0.1.6"):
        assert bound in requires
    assert any(r.startswith("Pillow") and "<10" in r for r in requires)
    assert seen["package_data"] == {"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]}


def test_staged_package_builds_a_detectron2_wheel(tool, tmp_path):
    """pip builds the staged tree (of a fake archive) into a wheel named detectron2 0.6
    holding the fallback _C and the model-zoo configs; nothing is installed."""
    import zipfile

    with tarfile.open(fake_source_archive(str(tmp_path))) as tar:
        tar.extractall(tmp_path, filter="data")
    stage = tmp_path / "stage"
    stage.mkdir()
    tool.stage_pure_python_package(str(tmp_path / "pb1-detectron2-0.6"), str(stage))
    wheels = tmp_path / "wheels"
    proc = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
            "--no-build-isolation", "--wheel-dir", str(wheels), str(stage),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = wheels.iterdir()
    assert wheel.name.startswith("detectron2-0.6-py3-none-any")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "detectron2/_C.py" in names
        assert "detectron2/model_zoo/configs/Base-RCNN-FPN.yaml" in names
        assert "detectron2/model_zoo/configs/common/train.py" in names
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = zf.read(metadata).decode()
    assert "Name: detectron2" in text
    assert "Requires-Dist: numpy<1.24" in text


def test_fallback_C_module_source(tool, tmp_path):
    # the installed _C registers its torch.ops stubs first; this copy then leaves them alone
    # (torch would keep a copy's registrations, and its error class, for the whole session)
    importlib.import_module("detectron2._C")
    C = load_module_from_source("fallback_C", tool.FALLBACK_C_MODULE, tmp_path)
    for op in ("ROIAlignRotated_forward", "box_iou_rotated", "COCOevalAccumulate"):
        with pytest.raises(C.MissingCompiledOpError) as info:
            getattr(C, op)
        assert f"detectron2._C.{op} is a compiled op" in str(info.value)
        assert "build detectron2 from source" in str(info.value)
    assert issubclass(C.MissingCompiledOpError, RuntimeError)
    with pytest.raises(AttributeError):
        C.__path__  # not a package: import machinery must get AttributeError
    assert "unavailable" in C.get_compiler_version() and "unavailable" in C.get_cuda_version()


FRESH_TORCH_OPS_CHECK = """
import importlib.util, sys, torch
path = sys.argv[1]

def load(name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

C = load("fallback_C")
assert C._TORCH_LIBRARY is not None
t = torch.zeros
calls = {  # the argument lists detectron2 main passes
    "box_iou_rotated": lambda: torch.ops.detectron2.box_iou_rotated(t(2, 5), t(3, 5)),
    "nms_rotated": lambda: torch.ops.detectron2.nms_rotated(t(2, 5), t(2), 0.5),
    "roi_align_rotated_forward": lambda: torch.ops.detectron2.roi_align_rotated_forward(
        t(1, 1, 4, 4, requires_grad=True), t(1, 6), 0.25, 2, 2, 0),
    "roi_align_rotated_backward": lambda: torch.ops.detectron2.roi_align_rotated_backward(
        t(1, 1, 2, 2), t(1, 6), 0.25, 2, 2, 1, 1, 4, 4, 0),
}
assert set(calls) == set(C.TORCH_OPS)
for op, call in calls.items():
    try:
        call()
    except C.MissingCompiledOpError as e:
        assert str(e).startswith(f"torch.ops.detectron2.{op} is a compiled op"), str(e)
        assert "build detectron2 from source" in str(e)
    else:
        raise AssertionError(op + " did not raise")
again = load("fallback_C_again")  # a second import registers nothing, and does not fail
assert again._TORCH_LIBRARY is None
print("ok")
"""


def test_fallback_C_registers_torch_ops_that_raise_the_clear_error(tool, tmp_path):
    """In a fresh process (no detectron2 imported), the fallback source registers the ops
    the compiled extension registers with torch, with schemas that take detectron2's
    arguments, each raising MissingCompiledOpError that names it."""
    source = tmp_path / "fallback_C.py"
    source.write_text(tool.FALLBACK_C_MODULE)
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_TORCH_OPS_CHECK, str(source)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


# ---------------------------------------------------------------- keeping a fallback current


def fake_installed_detectron2(site, c_text):
    """A site-packages dir holding detectron2/_C.py (`c_text`) and its dist-info RECORD."""
    package = site / "detectron2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "0.6"\n')
    (package / "_C.py").write_text(c_text)
    info = site / "detectron2-0.6.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: detectron2\nVersion: 0.6\n")
    (info / "RECORD").write_text(
        "detectron2/__init__.py,sha256=abc,19\n"
        "detectron2/_C.py,sha256=old,3\n"
        "detectron2-0.6.dist-info/METADATA,,\n"
        "detectron2-0.6.dist-info/RECORD,,\n"
    )
    return package


def test_refresh_rewrites_an_outdated_fallback_and_its_record(tool, tmp_path):
    import base64
    import hashlib

    package = fake_installed_detectron2(tmp_path, tool.FALLBACK_C_HEADER + "\nan older fallback\n")
    assert tool.refresh_fallback_C(str(package)) == str(package / "_C.py")
    assert (package / "_C.py").read_text() == tool.FALLBACK_C_MODULE
    data = tool.FALLBACK_C_MODULE.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record = (tmp_path / "detectron2-0.6.dist-info" / "RECORD").read_text().splitlines()
    assert f"detectron2/_C.py,sha256={digest},{len(data)}" in record
    assert "detectron2/__init__.py,sha256=abc,19" in record and len(record) == 4
    assert tool.refresh_fallback_C(str(package)) is None  # current now: nothing to do


@pytest.mark.parametrize("case", ["current", "not ours", "compiled beside it"])
def test_refresh_leaves_other_C_modules_alone(tool, tmp_path, case):
    text = {
        "current": tool.FALLBACK_C_MODULE,
        "not ours": '"""someone else\'s _C"""\n',
        "compiled beside it": tool.FALLBACK_C_HEADER + "\nold\n",
    }[case]
    package = fake_installed_detectron2(tmp_path, text)
    if case == "compiled beside it":
        (package / "_C.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    record = (tmp_path / "detectron2-0.6.dist-info" / "RECORD").read_text()
    assert tool.refresh_fallback_C(str(package)) is None
    assert (package / "_C.py").read_text() == text
    assert (tmp_path / "detectron2-0.6.dist-info" / "RECORD").read_text() == record


def test_noop_run_refreshes_an_outdated_fallback(tool, monkeypatch, capsys):
    monkeypatch.setattr(tool, "detectron2_status", lambda: (True, "0.6"))
    monkeypatch.setattr(tool, "refresh_fallback_C", lambda: "/site/detectron2/_C.py")
    monkeypatch.setattr(tool, "pip", PipRecorder())
    assert tool.main([]) == 0
    out = capsys.readouterr().out
    assert "updated its fallback /site/detectron2/_C.py" in out and "nothing else to do" in out


# ---------------------------------------------------------------- a source tree (upstream main)


def git_layout_tree(root, version="0.6"):
    """A detectron2 checkout as git has it: configs/ at the top, csrc, a stray build."""
    tree = root / "detectron2-main"
    for name, text in {
        "detectron2/__init__.py": f"from .utils.env import setup_environment\n__version__ = \"{version}\"\n",
        "detectron2/model_zoo/__init__.py": "",
        "detectron2/layers/__init__.py": "",
        "detectron2/layers/csrc/vision.cpp": "// C++\n",
        "detectron2/_C.cpython-311-x86_64-linux-gnu.so": "ELF",
        "configs/Base-RCNN-FPN.yaml": "MODEL: {}\n",
        "configs/common/train.py": "train = dict()\n",
        "setup.py": "raise SystemExit('upstream setup.py must not run')\n",
    }.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    return tree


def test_stage_a_git_layout_tree(tool, tmp_path):
    tree = git_layout_tree(tmp_path, version="0.6.1")
    stage = tmp_path / "stage"
    stage.mkdir()
    tool.stage_pure_python_package(str(tree), str(stage), source=f"the source tree {tree}")
    package = stage / "detectron2"
    assert (package / "_C.py").read_text() == tool.FALLBACK_C_MODULE
    assert not list(package.glob("_C.*.so"))  # a compiled _C would shadow the fallback
    assert (package / "model_zoo" / "configs" / "common" / "train.py").is_file()
    setup_py = (stage / "setup.py").read_text()
    assert 'version="0.6.1"' in setup_py and f"from the source tree {tree}" in setup_py


def test_read_version_needs_a_version(tool, tmp_path):
    tree = git_layout_tree(tmp_path)
    (tree / "detectron2" / "__init__.py").write_text("# no version\n")
    with pytest.raises(RuntimeError, match="declares no __version__"):
        tool.read_version(str(tree))


def test_main_source_tree_installs_it_even_over_a_working_detectron2(tool, monkeypatch, tmp_path, capsys):
    tree = git_layout_tree(tmp_path)
    monkeypatch.setattr(tool, "detectron2_status", lambda: (True, "0.6"))
    monkeypatch.setattr(tool, "refresh_fallback_C", lambda: pytest.fail("not a no-op run"))
    recorder = PipRecorder()
    monkeypatch.setattr(tool, "pip", recorder)
    assert tool.main(["--source-tree", str(tree)]) == 0
    assert [c[0] for c in recorder.calls] == ["install"]  # no download
    assert {"setup.py", "detectron2/_C.py", "detectron2/model_zoo/configs/common/train.py"} <= recorder.staged
    assert "detectron2/layers/csrc/vision.cpp" in recorder.staged  # copied, never built
    assert "installed (pure Python" in capsys.readouterr().out


def test_main_source_tree_must_hold_detectron2(tool, monkeypatch, tmp_path):
    monkeypatch.setattr(tool, "pip", PipRecorder())
    with pytest.raises(SystemExit) as info:
        tool.main(["--source-tree", str(tmp_path)])
    assert "no detectron2/__init__.py there" in str(info.value)


def test_upstream_script_says_how_to_use_it():
    script = os.path.join(ROOT, "tools", "test_against_upstream.sh")
    proc = subprocess.run(["bash", script], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "SNAPSHOT" in proc.stderr


def test_upstream_script_rejects_what_is_not_a_snapshot(tmp_path):
    script = os.path.join(ROOT, "tools", "test_against_upstream.sh")
    env = dict(os.environ, D2KD_UPSTREAM_VENV=str(tmp_path / "venv"))
    proc = subprocess.run(["bash", script, str(tmp_path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "neither a detectron2 source tree" in proc.stderr
