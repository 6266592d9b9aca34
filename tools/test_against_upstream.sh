#!/usr/bin/env bash
# Run d2kd's test suite against upstream detectron2 (for example git main) instead
# of the v0.6 that .venv holds.
#
#   tools/test_against_upstream.sh SNAPSHOT [pytest arguments]   (or: make test-upstream UPSTREAM=SNAPSHOT)
#
# SNAPSHOT is a detectron2 source tree (a directory holding detectron2/ and
# configs/) or a detectron2 git directory, bare or not (its commit REV, default
# HEAD, is used). The variant environment, build/upstream-venv (or
# $D2KD_UPSTREAM_VENV), is .venv's libraries (torch, numpy, d2kd, ...; reached
# through a .pth file, nothing is copied) with detectron2 from SNAPSHOT installed
# over them, pure Python with the fallback _C, by tools/install_detectron2.py
# --source-tree: the same way .venv gets v0.6. Nothing is downloaded (pip runs
# with --no-index: every library comes from .venv). A second run with the same
# snapshot and the same install tool installs nothing. pytest arguments default
# to `-q tests`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ $# -lt 1 ] || [ -z "$1" ]; then
    echo "usage: $0 SNAPSHOT [pytest arguments]   (SNAPSHOT: detectron2 source tree or git dir)" >&2
    exit 2
fi
SNAPSHOT=$(cd "$1" && pwd)
shift
REV=${REV:-HEAD}
BASE_PY=$ROOT/.venv/bin/python

# Which snapshot: a commit of a git directory, or the contents of a source tree.
if [ -f "$SNAPSHOT/detectron2/__init__.py" ]; then
    KIND=tree
    ID=tree:$(cd "$SNAPSHOT" && find detectron2 $([ -d configs ] && echo configs) -type f \
        ! -name '*.pyc' ! -name '*.so' -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-40)
elif COMMIT=$(git --git-dir="$SNAPSHOT" rev-parse --verify --quiet "$REV^{commit}" 2>/dev/null) \
    || COMMIT=$(git --git-dir="$SNAPSHOT/.git" rev-parse --verify --quiet "$REV^{commit}" 2>/dev/null); then
    KIND=git
    GIT_DIR_OF_SNAPSHOT=$SNAPSHOT
    [ -d "$SNAPSHOT/.git" ] && GIT_DIR_OF_SNAPSHOT=$SNAPSHOT/.git
    ID=commit:$COMMIT
else
    echo "$SNAPSHOT is neither a detectron2 source tree (detectron2/__init__.py) nor a git directory with $REV" >&2
    exit 2
fi

if ! "$BASE_PY" -c "import torch, d2kd" 2>/dev/null; then
    echo "$BASE_PY cannot import torch and d2kd: run 'make setup' first." >&2
    exit 1
fi
VENV=${D2KD_UPSTREAM_VENV:-build/upstream-venv}
mkdir -p "$VENV"
VENV=$(cd "$VENV" && pwd)
PY=$VENV/bin/python
STAMP=$VENV/.d2kd-upstream-stamp
WANT="$ID tool:$(sha1sum tools/install_detectron2.py | cut -c1-40) base:$BASE_PY"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$PY" -c "import detectron2" 2>/dev/null; then
    echo "$VENV already holds detectron2 from $ID; nothing to install."
else
    rm -f "$STAMP"
    if [ ! -x "$PY" ]; then
        # pip, like every library, comes from .venv through the .pth file below
        "$BASE_PY" -m venv --without-pip "$VENV"
    fi
    SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    BASE_SITE=$("$BASE_PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    # addsitedir (not a bare path) so .venv's own .pth files (d2kd's editable
    # install) are processed too; it appends, so this venv's detectron2 comes first
    echo "import site; site.addsitedir('$BASE_SITE')" > "$SITE/_d2kd_base_venv.pth"
    if [ $KIND = git ]; then
        TREE=$VENV/src/detectron2-${COMMIT:0:12}
        rm -rf "$VENV/src" && mkdir -p "$TREE"
        git --git-dir="$GIT_DIR_OF_SNAPSHOT" archive "$COMMIT" detectron2 configs | tar -x -C "$TREE"
    else
        TREE=$SNAPSHOT
    fi
    PIP_NO_INDEX=1 "$PY" tools/install_detectron2.py --source-tree "$TREE"
    echo "$WANT" > "$STAMP"
fi

"$PY" - "$VENV" "$ID" <<'EOF'
import os, sys
import detectron2
venv, snapshot = sys.argv[1:]
where = os.path.realpath(detectron2.__file__)
if not where.startswith(os.path.realpath(venv) + os.sep):
    sys.exit(f"the variant environment imports detectron2 from {where}, not from {venv}")
print(f"detectron2 {detectron2.__version__} from {snapshot} ({os.path.dirname(where)})", flush=True)
EOF
if [ $# -eq 0 ]; then
    set -- -q tests
fi
exec "$PY" -m pytest "$@"
