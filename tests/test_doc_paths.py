"""Every Python file the Markdown docs name exists: a renamed config breaks this test, not a reader."""
import glob
import os
import re

import pytest
from tool_runs import ROOT

DOCS = ["README.md", *sorted(glob.glob("projects/*/README.md", root_dir=ROOT)), *sorted(glob.glob("docs/*.md", root_dir=ROOT))]
PY_NAME = re.compile(r"(?<![\w./{}-])((?:[\w-]+/)*[\w-]+\.py)\b")  # not a part of a {a,b} pattern


def _repository_basenames():
    names = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("output", "datasets", "build")]
        names.update(f for f in files if f.endswith(".py"))
    return names


BASENAMES = _repository_basenames()


def named_files(text):
    """``a/b.py``-like names in ``text``; names with a folder are paths from the root or configs."""
    return sorted(set(PY_NAME.findall(text)))


def test_named_files_finds_paths_and_bare_names():
    text = "run `tools/benchmark.py` or mkd_R50_to_R18_retinanet.py; not x.pyc, setup.python, {a,b}_FPN.py"
    assert named_files(text) == ["mkd_R50_to_R18_retinanet.py", "tools/benchmark.py"]


def _exists(name, doc):
    if "/" not in name:
        return name in BASENAMES
    candidates = [os.path.join(ROOT, name), os.path.join(ROOT, os.path.dirname(doc), name)]
    candidates += glob.glob(os.path.join(ROOT, "**", name), recursive=True)  # relative to a config folder
    return any(os.path.isfile(c) for c in candidates)


@pytest.mark.parametrize("doc", DOCS)
def test_every_python_file_a_doc_names_exists(doc):
    with open(os.path.join(ROOT, doc)) as f:
        text = f.read()
    missing = [n for n in named_files(text) if not _exists(n, doc)]
    assert not missing, f"{doc} names files that do not exist: {missing}"
