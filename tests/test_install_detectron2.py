"""Set-up check: tools/install_detectron2.py and the detectron2 it installed.

The real environment is only read (import, ``pip show``); every install path of
the tool runs against temporary directories with pip replaced by a recorder.
"""
import importlib.metadata
import importlib.util
import io
import os
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


def test_installed_fallback_C_fails_where_detectron2_uses_it():
    """A real CPU use of a compiled op (IoU of rotated boxes) raises the clear error."""
    import torch

    import detectron2._C as C
    from detectron2.structures import RotatedBoxes, pairwise_iou_rotated

    boxes = RotatedBoxes(torch.tensor([[10.0, 10.0, 8.0, 4.0, 30.0]]))
    if not C.__file__.endswith(".py"):
        assert torch.allclose(pairwise_iou_rotated(boxes, boxes), torch.ones(1, 1))
        return
    with pytest.raises(RuntimeError, match=r"detectron2\._C\.box_iou_rotated is a compiled op"):
        pairwise_iou_rotated(boxes, boxes)


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
