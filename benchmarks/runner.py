"""Run benchmark rows through ``tools/lazyconfig_train_net.py``, cached and resumable.

Each (row, seed) is a *task* with its own folder
``<work_dir>/<row>/seed<k>-<key>``, where ``key`` hashes everything
that decides the result: the config as the run resolves it (the config file, the
files it imports, the overrides, the schedule and the seed: :func:`resolved_digest`)
and the keys of the runs whose output it uses (teachers, warm-up, box cache). A
task whose folder holds ``result.json`` is done and is not run again; an
interrupted task continues from its last checkpoint (``--resume``). Editing a
config's values therefore re-runs exactly the rows that depend on them, while
restructuring config files that resolve to the same config keeps every run.
Folders do not name the profile: a task that two profiles share (same resolved
config and inputs) is trained once; the quick profile's smaller scale gives its
runs keys of their own.
"""
import ast
import copy
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from d2kd.utils.io import atomic_write_text
from .plan import FIRST_ROLES, Profile, Row
from .records import RECORD_VERSION, commit_record, file_digest, weights_digest

__all__ = ["Task", "BenchmarkError", "config_digest", "plan_tasks", "run_tasks", "read_final_metrics",
           "finished_at", "RESULT_FILE", "LOG_FILE", "WALL_FILE", "earlier_wall_s", "note_wall_s", "RunSummary",
           "task_states", "estimate_seconds", "make_record", "machine", "folder_result", "gradient_balance",
           "last_stage_dir"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_TOOL = os.path.join(ROOT, "tools", "lazyconfig_train_net.py")
CACHE_MODULE = "dfmsd.cache_boxes"  # DFMSD's box-cache tool, run as python -m
RESULT_FILE = "result.json"
LOG_FILE = "benchmark.log"  # the run's stdout and stderr
# the wall seconds of a run's invocations so far, kept up to date while it runs: a run resumed
# over sessions records the sum of its pieces, not its last piece alone
WALL_FILE = "wall_s.txt"
FINAL_CHECKPOINT = "model_final.pth"
BOX_CACHE_FILE = "boxes.json"
# detectron2's periodic checkpoint of every benchmark run, in iterations: a run stopped
# (--budget-minutes, a killed session) continues from the last one (--resume)
CHECKPOINT_PERIOD = 100
_RELATIVE_IMPORT = re.compile(r"^\s*from\s+(\.+)([\w.]*)\s+import", re.MULTILINE)
# a shared config reached by name: d2kd.config.zoo.get_config("common/distill.py")
_ZOO_CONFIG = re.compile(r"\bzoo\.get_config\(\s*[\"']([^\"']+)[\"']")


class BenchmarkError(RuntimeError):
    """A benchmark row cannot be planned or its run failed."""


@dataclass
class Task:
    """One process to run: a (row, seed) training, or the DFMSD box cache."""

    name: str
    row: Optional[Row]
    seed: int
    key: str
    output_dir: str
    command: List[str]
    needs: Tuple[str, ...] = ()
    result: Optional[dict] = field(default=None, repr=False)
    config: str = ""  # the config file, relative to the repository root
    overrides: Tuple[str, ...] = ()  # the overrides that make its cache key (no paths)
    iterations: int = 0  # training iterations in all (every SAL stage)
    # after training, its final weights evaluated on these datasets besides its own test split:
    # (dataset name, --eval-only command), each writing <output_dir>/eval_<dataset>/results.json
    evaluations: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    # a run found stopped part-way is trained again from its start (Profile.restart_stopped)
    restart_stopped: bool = False

    @property
    def result_path(self) -> str:
        return os.path.join(self.output_dir, RESULT_FILE)

    @property
    def artifact(self) -> str:
        """What later tasks use of this one: its final checkpoint, or the box cache file."""
        return os.path.join(self.output_dir, BOX_CACHE_FILE if self.row is None else FINAL_CHECKPOINT)

    def is_done(self) -> bool:
        return os.path.isfile(self.result_path)


def _imported_configs(path: str) -> List[str]:
    """Config files that ``path`` builds on: its relative imports (LazyConfig's convention)
    and the shared configs it loads with ``zoo.get_config("<path under configs/>")``."""
    from d2kd.config import zoo

    found = []
    text = open(path).read()
    for name in _ZOO_CONFIG.findall(text):
        target = os.path.join(zoo.CONFIGS_ROOT, name)
        if os.path.isfile(target):
            found.append(target)
    for dots, module in _RELATIVE_IMPORT.findall(text):
        base = os.path.dirname(path)
        for _ in range(len(dots) - 1):
            base = os.path.dirname(base)
        target = os.path.join(base, *module.split(".")) if module else base
        if os.path.isfile(target + ".py"):
            found.append(target + ".py")
    return found


def _code_of(path: str) -> str:
    """The Python code of a config file without its docstrings and comments.

    Editing a config's prose therefore keeps its runs cached; any change of a value,
    a name or an import re-runs them.
    """
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def config_digest(path: str) -> str:
    """sha256 of the code of a config file and, recursively, of every config file it imports.

    Docstrings and comments do not count (:func:`_code_of`).
    """
    seen, stack, digest = set(), [os.path.abspath(path)], hashlib.sha256()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(os.path.abspath(p) for p in _imported_configs(current))
    for current in sorted(seen):
        digest.update(os.path.relpath(current, ROOT).encode())
        digest.update(_code_of(current).encode())
    return digest.hexdigest()


KEY_SCHEME = "resolved-config-1"  # part of every key: a new scheme never matches an old key
INPUT = "benchmark-input"  # stands for the path of an input run's output in a resolved config
RUN_FOLDER = "benchmark-run-folder"  # stands for the task's own folder


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


_LOADED: Dict[Tuple[str, float], object] = {}  # (path, mtime) -> the config file as loaded


def _load(config: str, overrides: Sequence[str]):
    """A config file with ``overrides`` applied; each file is read once per process."""
    from d2kd.config import apply_overrides_strictly, load_config

    path = os.path.join(ROOT, config)
    cache_key = (os.path.abspath(path), os.path.getmtime(path))
    if cache_key not in _LOADED:
        _LOADED[cache_key] = load_config(path)
    return apply_overrides_strictly(copy.deepcopy(_LOADED[cache_key]), list(overrides))


def _canonical(value):
    """A config node as plain JSON data: interpolations unresolved, floats by ``repr``, a
    class or function by its qualified name only (moving it between modules keeps its runs;
    renaming it does not)."""
    from omegaconf import DictConfig, ListConfig

    if isinstance(value, DictConfig):
        return {str(k): _canonical_target(v) if k == "_target_" else _canonical(v)
                for k, v in value.items_ex(resolve=False)}
    if isinstance(value, dict):
        return {str(k): _canonical_target(v) if k == "_target_" else _canonical(v) for k, v in value.items()}
    if isinstance(value, (ListConfig, list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, type) or callable(value):
        return getattr(value, "__qualname__", repr(value))
    text = repr(value)
    if " at 0x" in text:
        raise BenchmarkError(f"A config value has no stable form to key a run by: {text}")
    return f"{type(value).__qualname__}:{text}"


def _canonical_target(target):
    """A ``_target_`` as :func:`_canonical` writes the object it names: a dotted string (as
    upstream detectron2's own configs give some targets, e.g. "detectron2.layers.ShapeSpec",
    where v0.6 gives the class) by the qualified name of what it locates, so the same config
    gets the same key under either; a string that locates nothing stays as it is."""
    if isinstance(target, str):
        from detectron2.utils.registry import locate

        try:
            target = locate(target)
        except Exception:  # noqa: BLE001 - any failure to import: key it by its text
            return target
    return _canonical(target)


def resolved_digest(config: str, overrides: Sequence[str], inputs: Sequence[str] = ()) -> str:
    """sha256 of ``config`` with ``overrides`` applied, as the run resolves it.

    ``inputs``: the keys the benchmark sets to other runs' outputs (teacher weights,
    ``train.init_checkpoint``, box caches); they count as :data:`INPUT` (the inputs' own
    keys enter the task's key instead), as ``train.output_dir`` counts as :data:`RUN_FOLDER`.
    """
    cfg = _load(config, [*overrides, *(f"{k}={INPUT}" for k in inputs), f"train.output_dir={RUN_FOLDER}"])
    return hashlib.sha256(json.dumps(_canonical(cfg), sort_keys=True).encode()).hexdigest()


def _norm(path: str) -> str:
    return os.path.normpath(os.path.join(ROOT, path))


BOX_CACHE_KEY = "dataloader.train.mapper.box_cache"


def _own_mapper(stage) -> dict:
    """A SAL stage's own ``dataloader.train.mapper`` entry ({} when it sets none)."""
    return ((stage.get("dataloader", None) or {}).get("train", None) or {}).get("mapper", None) or {}


def _box_cache_keys(cfg) -> List[str]:
    """The keys of the box caches the run reads: a train mapper with a ``box_cache`` and its
    enhancement on (``enhance=False``: DFMSD's first SAL stage, which reads none), named as
    set: ``stages.<i>.…`` where a stage declares a mapper of its own, else the top level's."""
    from d2kd.config.stages import stage_config

    def reads(mapper) -> bool:
        return "box_cache" in mapper and bool(mapper.get("enhance", True))

    stages = cfg.get("stages", None) or []
    if not stages:
        return [BOX_CACHE_KEY] if reads(cfg.dataloader.train.mapper) else []
    keys = []
    for i, stage in enumerate(stages):
        if reads(stage_config(cfg, i).dataloader.train.mapper):
            key = f"stages.{i}.{BOX_CACHE_KEY}" if "box_cache" in _own_mapper(stage) else BOX_CACHE_KEY
            keys += [key] if key not in keys else []
    return keys


def _stage_mirrors(cfg, overrides: Sequence[str]) -> List[str]:
    """Copies of the ``dataloader.train.mapper.*`` overrides for every SAL stage that declares a
    whole mapper of its own (a ``_target_``), so that a profile's input size reaches it; a
    stage that changes only some keys of the run's mapper takes the overrides from it."""
    mirrored = []
    for i, stage in enumerate(cfg.get("stages", None) or []):
        if "_target_" not in _own_mapper(stage):
            continue
        mirrored += [f"stages.{i}.{o}" for o in overrides if o.startswith("dataloader.train.mapper.")]
    return mirrored


def plan_tasks(
    profile: Profile,
    rows: Sequence[Row],
    work_dir: str,
    seeds_for: Optional[Callable[[Row], Sequence[int]]] = None,
    python: str = sys.executable,
) -> List[Task]:
    """Tasks for ``rows`` in dependency order (teachers, box cache, then the rest).

    Raises :class:`BenchmarkError` when a distillation row uses a teacher that no
    teacher row of ``rows`` trains.
    """
    from d2kd.config.teachers import teacher_weights_keys

    seeds_for = seeds_for or profile.seeds
    base = work_dir
    tasks: List[Task] = []
    teacher_of: Dict[str, Task] = {}  # default checkpoint path -> teacher task

    def train_task(row, seed, extra, needs, dep_keys):
        iters = profile.iterations(row)
        of_profile = profile.overrides_of(row)
        common = list(of_profile)
        if row.stages > 1:
            common += _stage_mirrors(_load(row.config, []), of_profile)
        overrides = [*common, *row.overrides, f"train.max_iter={iters}",
                     f"train.eval_period={iters}", f"train.seed={seed}"]
        inputs = [e.split("=", 1)[0] for e in extra]
        key = _key(KEY_SCHEME, resolved_digest(row.config, overrides, inputs), dep_keys)
        out = os.path.join(base, row.name, f"seed{seed}-{key}")
        # (the checkpoint period does not change the weights: it is not part of the key)
        command = [python, TRAIN_TOOL, "--resume", "--config-file", row.config, *overrides, *extra,
                   f"train.checkpointer.period={CHECKPOINT_PERIOD}", f"train.output_dir={out}"]
        evaluations = tuple((name, _evaluation_command(python, row.config, overrides, out, name))
                            for name in profile.report_splits)
        return Task(f"{row.name}/seed{seed}", row, seed, key, out, command, tuple(needs),
                    config=row.config, overrides=tuple(overrides), iterations=iters * row.stages,
                    evaluations=evaluations,
                    restart_stopped=profile.restart_stopped and row.role not in FIRST_ROLES)

    init: Optional[Task] = None
    for row in rows:  # the warm-up first: a teacher of the student's lineage starts from it
        if row.role == "init":
            init = train_task(row, seeds_for(row)[0], [], [], [])
            tasks.append(init)
    if profile.student_init and (init is None or init.row.name != profile.student_init):
        raise BenchmarkError(
            f"Profile {profile.name!r} starts its students from row {profile.student_init!r}, "
            "which is not among the rows to run; add it."
        )
    for row in rows:
        if row.role != "teacher":
            continue
        if row.from_init and init is None:
            raise BenchmarkError(
                f"Teacher row {row.name!r} trains on from the students' warm-up (from_init), but "
                f"profile {profile.name!r} has no warm-up row (student_init)."
            )
        start = ([f"train.init_checkpoint={os.path.join(init.output_dir, FINAL_CHECKPOINT)}"]
                 if row.from_init else [])
        task = train_task(row, seeds_for(row)[0], start, [init.name] if row.from_init else [],
                          [init.key] if row.from_init else [])
        tasks.append(task)
        default_dir = _load(row.config, []).train.output_dir
        teacher_of[_norm(os.path.join(default_dir, FINAL_CHECKPOINT))] = task

    box_cache: Optional[Task] = None
    for row in rows:
        if row.role in FIRST_ROLES:
            continue
        cfg = _load(row.config, [*profile.overrides_of(row), *row.overrides])
        weights = teacher_weights_keys(cfg)
        extra, needs, dep_keys = [], [], []
        if init is not None and not row.own_start:
            extra.append(f"train.init_checkpoint={os.path.join(init.output_dir, FINAL_CHECKPOINT)}")
            needs.append(init.name)
            dep_keys.append(init.key)
        for key, path in sorted(weights.items()):
            teacher = teacher_of.get(_norm(path))
            if teacher is None:
                raise BenchmarkError(
                    f"Row {row.name!r} ({row.config}) uses the teacher checkpoint {path!r} ({key}), "
                    "which no teacher row of this benchmark trains; add the teacher's row "
                    "(its config's train.output_dir must hold that checkpoint)."
                )
            extra.append(f"{key}={os.path.join(teacher.output_dir, FINAL_CHECKPOINT)}")
            needs.append(teacher.name)
            dep_keys.append(teacher.key)
        cache_keys = _box_cache_keys(cfg)
        if cache_keys:
            if box_cache is None:
                box_cache = _box_cache_task(profile, row, cfg, weights, teacher_of, base, python)
                tasks.append(box_cache)
            extra += [f"{k}={box_cache.output_dir}/{BOX_CACHE_FILE}" for k in cache_keys]
            needs.append(box_cache.name)
            dep_keys.append(box_cache.key)
        for seed in seeds_for(row):
            tasks.append(train_task(row, seed, extra, needs, dep_keys))
    return tasks


EVAL_FOLDER = "eval_{}"  # a report split's evaluation, inside the run's folder


def _evaluation_command(python: str, config: str, overrides: Sequence[str], out: str,
                        dataset: str) -> Tuple[str, ...]:
    """``--eval-only`` of a run's final weights on ``dataset`` (a report split: a run's own
    test split, val, chooses; this one only reports), into ``<out>/eval_<dataset>``."""
    return (python, TRAIN_TOOL, "--eval-only", "--config-file", config, *overrides,
            f"dataloader.test.dataset.names={dataset}",
            f"train.init_checkpoint={os.path.join(out, FINAL_CHECKPOINT)}",
            f"train.output_dir={os.path.join(out, EVAL_FOLDER.format(dataset))}")


def read_evaluation(output_dir: str, dataset: str) -> Dict[str, float]:
    """The metrics of a run's evaluation on ``dataset`` (:func:`_evaluation_command`), in the
    form of :func:`read_final_metrics` (``bbox/AP``, ...)."""
    path = os.path.join(output_dir, EVAL_FOLDER.format(dataset), "results.json")
    if not os.path.isfile(path):
        raise BenchmarkError(f"{output_dir}: no evaluation on {dataset} ({path} is missing)")
    with open(path) as f:
        results = json.load(f)["results"][dataset]
    return {f"{task}/{name}": value for task, metrics in results.items() for name, value in metrics.items()}


def _box_cache_task(profile, row, cfg, weights, teacher_of, base, python) -> Task:
    """The weaker (first-stage) teacher's boxes over the training set, for masking enhancement."""
    stage_keys = [k for k in weights if k.startswith("stages.0.")]
    if not stage_keys:
        raise BenchmarkError(
            f"Row {row.name!r} uses a box cache but has no first SAL stage teacher to make it; "
            "list a two-stage DFMSD row before it in the profile."
        )
    teacher = teacher_of[_norm(weights[stage_keys[0]])]
    common = profile.overrides_of(row)
    overrides = [*common, *_stage_mirrors(cfg, common), *row.overrides,
                 f"{stage_keys[0]}={os.path.join(teacher.output_dir, FINAL_CHECKPOINT)}"]
    key = _key(KEY_SCHEME, resolved_digest(row.config, overrides[:-1], [stage_keys[0]]), teacher.key)
    out = os.path.join(base, "box_cache", key)
    command = [python, "-m", CACHE_MODULE, "--config-file", row.config, "--stage", "1",
               "--output", f"{out}/{BOX_CACHE_FILE}", *overrides]
    return Task("box_cache", None, 0, key, out, command, (teacher.name,), config=row.config,
                overrides=tuple([*common, *row.overrides]))


def read_final_metrics(output_dir: str) -> Dict[str, float]:
    """Final COCO metrics of a run folder (``bbox/AP``, ``segm/AP``, ...).

    A SAL run reports its last stage (``stages_summary.json``); a plain run the
    last ``metrics.json`` record holding ``bbox/AP``.
    """
    summary = os.path.join(output_dir, "stages_summary.json")
    if os.path.isfile(summary):
        with open(summary) as f:
            return dict(json.load(f)["stages"][-1]["results"])
    records = _metrics_records(os.path.join(output_dir, "metrics.json"))
    evaluated = [r for r in records if "bbox/AP" in r]
    if not evaluated:
        raise BenchmarkError(f"{output_dir}: no evaluation result (bbox/AP) in metrics.json")
    return {k: v for k, v in evaluated[-1].items() if "/" in k and k.split("/")[0] in ("bbox", "segm")}


def _metrics_records(path: str) -> List[dict]:
    """The records of a metrics.json; its last line is left out while it does not parse yet (a
    running training may be writing it)."""
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    records = [json.loads(line) for line in lines[:-1]]
    try:
        records += [json.loads(lines[-1])] if lines else []
    except json.JSONDecodeError:
        pass
    return records


def seconds_per_iteration(output_dir: str) -> Optional[float]:
    """Median logged iteration time over every ``metrics.json`` under ``output_dir``."""
    times = []
    for folder, _, files in os.walk(output_dir):
        if "metrics.json" in files:
            times += [r["time"] for r in _metrics_records(os.path.join(folder, "metrics.json")) if "time" in r]
    if not times:
        return None
    times.sort()
    return times[len(times) // 2]


def last_stage_dir(output_dir: str) -> str:
    """A run folder, or its last SAL stage's sub-folder (``stage2`` before ``stage10``:
    by number, not by name)."""
    found = []
    for name in (os.listdir(output_dir) if os.path.isdir(output_dir) else []):
        match = re.fullmatch(r"stage(\d+)", name)
        if match and os.path.isdir(os.path.join(output_dir, name)):
            found.append((int(match.group(1)), name))
    return os.path.join(output_dir, max(found)[1]) if found else output_dir


def gradient_balance(output_dir: str, part: str = "neck") -> Optional[Tuple[float, float]]:
    """(median gradient ratio, median cosine) of all distillation on the student's ``part``
    over a run's gradient diagnostics (``train.distill_diagnostics_period``), from its
    metrics.json (a SAL run's last stage); None without diagnostics. The term is ``distill``
    (every distillation loss) or, for a row with one distillation term, that term."""
    path = os.path.join(last_stage_dir(output_dir), "metrics.json")
    if not os.path.isfile(path):
        return None
    ratios: Dict[str, List[float]] = {}
    cosines: Dict[str, List[float]] = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line) if line.strip() else {}
            for key, value in record.items():
                kind, _, rest = key.partition("/")
                term, _, where = rest.partition("/")
                if where == part and kind in ("grad_ratio", "grad_cos"):
                    (ratios if kind == "grad_ratio" else cosines).setdefault(term, []).append(value)
    if not ratios:
        return None
    term = "distill" if "distill" in ratios else sorted(ratios)[0]
    cos = cosines.get(term)
    return statistics.median(ratios[term]), (statistics.median(cos) if cos else float("nan"))


def earlier_wall_s(task: Task) -> float:
    """Wall seconds that ``task``'s earlier invocations spent in its folder (0 for a fresh run)."""
    try:
        with open(os.path.join(task.output_dir, WALL_FILE)) as f:
            return float(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def note_wall_s(task: Task, seconds: float) -> None:
    """Keep ``seconds`` (all invocations so far) in ``task``'s folder."""
    atomic_write_text(os.path.join(task.output_dir, WALL_FILE), f"{seconds:.1f}\n")


def _finish(task: Task, wall_s: float) -> dict:
    """Write ``result.json`` into the run's folder and return it: the run's metrics and costs."""
    result = {"task": task.name, "key": task.key, "seed": task.seed, "wall_s": round(wall_s, 1),
              "finished": _utc_stamp(time.time()), "config": task.config, "iterations": task.iterations,
              "command": " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a
                                  for a in task.command[1:])}
    if task.row is not None:
        result.update(row=task.row.name, metrics=read_final_metrics(task.output_dir),
                      s_per_iter=seconds_per_iteration(task.output_dir))
        if task.evaluations:
            result["report_splits"] = {name: read_evaluation(task.output_dir, name)
                                       for name, _ in task.evaluations}
    atomic_write_text(task.result_path, json.dumps(result, indent=1))
    return result


def artifact_digest(task: Task) -> str:
    """sha256 of what later tasks use of ``task``: its final weights, or its box cache file."""
    return file_digest(task.artifact) if task.row is None else weights_digest(task.artifact)


def make_record(task: Task, result: dict, inputs: Dict[str, Task], profile: str = "") -> dict:
    """The durable record of a finished ``task`` (:mod:`benchmarks.records`): its result,
    what made it (config digest, overrides, iterations, seed, key) and the sha256 of its
    inputs' checkpoints and of its own final weights (``inputs``: the tasks it needed)."""
    record = dict(result)
    record.update(
        version=RECORD_VERSION, profile=profile, config=task.config,
        config_digest=config_digest(os.path.join(ROOT, task.config)) if task.config else "",
        overrides=list(task.overrides), iterations=task.iterations, machine=machine(),
        sha256=artifact_digest(task) if os.path.isfile(task.artifact) else None,
        inputs={name: {"key": t.key, "sha256": artifact_digest(t) if os.path.isfile(t.artifact) else None}
                for name, t in sorted(inputs.items())},
    )
    if task.row is not None:
        record["splits"] = {_evaluated_split(task): record.get("metrics", {}),
                            **record.pop("report_splits", {})}
        record["grad_balance"] = gradient_balance(task.output_dir)
        record["resumed_at"] = resumed_at(task.output_dir, task.iterations // max(1, task.row.stages))
    return record


_START = re.compile(r"Starting training from iteration (\d+)")


def resumed_at(output_dir: str, max_iter: int) -> List[str]:
    """Where a run was resumed: ``"<stage folder>:<iteration>"`` for every training start after
    iteration 0 and before ``max_iter`` (the iterations of a stage) in its logs (``[]``: trained
    in one piece; a finished run started again only evaluates). detectron2's training sampler starts
    its stream again at a resume, so a resumed run sees its first batches again: a valid run,
    but not the same batches as one trained in one piece."""
    found = []
    for folder, _, files in sorted(os.walk(output_dir)):
        if "log.txt" not in files:
            continue
        with open(os.path.join(folder, "log.txt"), errors="replace") as f:
            starts = [int(m.group(1)) for m in _START.finditer(f.read())]
        where = os.path.relpath(folder, output_dir)
        found += [f"{where}:{start}" for start in starts if 0 < start < max_iter]
    return found


def _evaluated_split(task: Task) -> str:
    """The dataset a run was evaluated on (``dataloader.test.dataset.names``)."""
    names = _load(task.config, list(task.overrides)).dataloader.test.dataset.names
    return names if isinstance(names, str) else ",".join(names)


def machine() -> str:
    """This machine, as the records and the RESULTS sections name it."""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}"


def _utc_stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def finished_at(task: Task) -> str:
    """When ``task`` finished ("YYYY-MM-DD HH:MM UTC"): its result's record, or, for
    runs from before that record, the last write of its log (its result file may
    have been rewritten since, when cache keys changed)."""
    if task.result and task.result.get("finished"):
        return task.result["finished"]
    log_path = os.path.join(task.output_dir, LOG_FILE)
    path = log_path if os.path.isfile(log_path) else task.result_path
    return _utc_stamp(os.path.getmtime(path))


def _chain_after(tasks: Sequence[Task]) -> Dict[str, int]:
    """For each task, the length of the longest chain of tasks that wait on it
    (0: none waits on it; a teacher whose box cache a DFMSD run needs: 2)."""
    users: Dict[str, List[Task]] = {t.name: [] for t in tasks}
    for task in tasks:
        for name in task.needs:
            if name in users:
                users[name].append(task)
    chain: Dict[str, int] = {}

    def length(name: str) -> int:
        if name not in chain:
            chain[name] = max((length(user.name) + 1 for user in users[name]), default=0)
        return chain[name]

    return {t.name: length(t.name) for t in tasks}


def _progress(task: Task) -> int:
    """Iterations a running task has finished (over its SAL stages), from its metrics.json: the
    last record written, not the highest (a resumed run appends from its last checkpoint, below
    the records its stopped piece left past that checkpoint)."""
    done = 0
    for folder, _, files in os.walk(task.output_dir):
        if "metrics.json" in files:
            iterations = [r["iteration"] for r in _metrics_records(os.path.join(folder, "metrics.json"))
                          if "iteration" in r]
            done += iterations[-1] + 1 if iterations else 0
    return min(done, task.iterations or done)


DEFAULT_S_PER_ITER = 2.0  # wall seconds per iteration when no record tells (a cautious guess)
BOX_CACHE_ESTIMATE_S = 120.0


def estimate_seconds(task: Task, known: Sequence[dict]) -> Tuple[float, str]:
    """Wall seconds ``task`` is expected to take, and where the figure comes from: the wall time
    per iteration of finished records of the same row, else of the same config, else of any
    run (``known``: records or results with ``wall_s``, ``iterations`` and ``s_per_iter``; the
    larger of wall time per iteration and logged time per iteration), else a guess."""
    def per_iteration(matches):
        # the wall time of a run resumed before wall_s.txt covers its last piece only: its logged time per
        # iteration (s_per_iter) is then the larger figure
        rates = [max(r["wall_s"] / r["iterations"], r.get("s_per_iter") or 0.0)
                 for r in matches if r.get("iterations") and r.get("wall_s")]
        return statistics.median(rates) if rates else None

    if task.row is None:
        walls = [r["wall_s"] for r in known if r.get("task") == task.name and r.get("wall_s")]
        return (walls[0], "its record") if walls else (BOX_CACHE_ESTIMATE_S, "a guess")
    for source, matches in (("this row's records", [r for r in known if r.get("row") == task.row.name]),
                            ("this config's records", [r for r in known if r.get("config") == task.config]),
                            ("all records", [r for r in known if r.get("row")])):
        rate = per_iteration(matches)
        if rate is not None:
            return rate * task.iterations, source
    return DEFAULT_S_PER_ITER * task.iterations, "a guess"


@dataclass
class RunSummary:
    """What :func:`run_tasks` did: task names finished now, found done (record or folder),
    retrained for their checkpoints, left for later (the budget), stopped at the budget."""

    finished: List[str] = field(default_factory=list)
    cached: List[str] = field(default_factory=list)
    retrained: List[str] = field(default_factory=list)
    not_started: List[str] = field(default_factory=list)
    stopped: List[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.not_started and not self.stopped


def folder_result(task: Task) -> dict:
    """The ``result.json`` of a task's folder, with its iterations and config (results written
    before they held these need them for the estimates and the record)."""
    with open(task.result_path) as f:
        return {"iterations": task.iterations, "config": task.config, **json.load(f)}


def task_states(tasks: Sequence[Task], store=None) -> Dict[str, str]:
    """Each task's state before running: ``record`` (a record of the same key: done, results
    kept), ``folder`` (done on this machine, no record yet), ``retrain`` (done by record, but a
    task still to run needs its checkpoint, which this machine lacks) or ``to run``."""
    states = {}
    for t in tasks:
        if store is not None and store.matching(t.name, t.key) is not None:
            states[t.name] = "record"
        elif t.is_done():
            states[t.name] = "folder"
        else:
            states[t.name] = "to run"
    by_name = {t.name: t for t in tasks}
    wanted = [t for t in tasks if states[t.name] == "to run"]
    while wanted:
        task = wanted.pop()
        for name in task.needs:
            need = by_name.get(name)
            if need is not None and states[name] == "record" and not os.path.isfile(need.artifact):
                states[name] = "retrain"
                wanted.append(need)
    return states


def run_tasks(tasks: Sequence[Task], jobs: int = 1, threads: int = 0, log=print, store=None,
              profile: str = "", deadline: Optional[float] = None, commit: bool = False,
              progress_every: float = 60.0) -> RunSummary:
    """Run the tasks not done yet, at most ``jobs`` at a time, each after the tasks it needs.

    A task is done when ``store`` (a :class:`benchmarks.records.RecordStore`) holds its record
    of the same key, or its folder holds ``result.json`` (then its record is written). A task
    done by record whose checkpoint a task still to run needs, and which this machine lacks,
    is trained again; its weights' sha256 is compared with the record's, and the records that
    used another checkpoint are named. Each finished run writes its record (and commits it,
    with ``commit``). With ``deadline`` (seconds since the epoch) a run starts only if its
    estimate (:func:`estimate_seconds`) ends before it; runs still going at the deadline are
    stopped, their periodic checkpoints kept for ``--resume``. Each process gets ``threads``
    torch threads (0: the machine's cores / jobs). Raises :class:`BenchmarkError` (naming the
    task's log file) when one fails.
    """
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, jobs))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    states = task_states(tasks, store)
    by_name = {t.name: t for t in tasks}
    summary = RunSummary()
    for t in tasks:
        if states[t.name] in ("record", "retrain"):
            t.result = store.matching(t.name, t.key)
        elif states[t.name] == "folder":
            t.result = folder_result(t)
            if store is not None:  # finished before records existed, or its record was not kept
                t.result = make_record(t, t.result, _inputs(t, by_name), profile)
                _keep(store, t.result, commit, log)
        if states[t.name] in ("record", "folder"):
            summary.cached.append(t.name)
    pending = [t for t in tasks if states[t.name] in ("to run", "retrain")]
    done = {t.name for t in tasks if states[t.name] in ("record", "folder")}
    known = [t.result for t in tasks if t.result is not None] + (store.all() if store is not None else [])
    total, started = len(pending), 0
    running: Dict[str, Tuple[Task, subprocess.Popen, float]] = {}
    steps: Dict[str, int] = {}  # a running task's process: 0 its training, k its k-th evaluation

    def start(task: Task, command: Sequence[str]) -> subprocess.Popen:
        with open(os.path.join(task.output_dir, LOG_FILE), "a") as f:
            return subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    retrain = [t.name for t in pending if states[t.name] == "retrain"]
    log(f"[benchmark] {len(tasks) - total} of {len(tasks)} runs cached; {total} to run, "
        f"{jobs} at a time, {threads} thread(s) each"
        + (f" ({len(retrain)} of them again for their checkpoints: {', '.join(retrain)})" if retrain else ""))
    chain = _chain_after(tasks)
    earlier: Dict[str, float] = {}  # per running task: its earlier invocations' wall seconds
    progress_at_start: Dict[str, int] = {}  # per running task: iterations its folder held when started here
    last_progress = time.time()
    while pending or running:
        # the run with the longest chain of runs waiting on it first, then the one with more
        # inputs (teachers, box cache: the longer run), then plan order
        ready = sorted((t for t in pending if all(n in done for n in t.needs)),
                       key=lambda t: (-chain[t.name], -len(t.needs)))
        if deadline is not None:
            ready = [t for t in ready if time.time() + estimate_seconds(t, known)[0] <= deadline]
        while ready and len(running) < jobs:
            task = ready.pop(0)
            pending.remove(task)
            started += 1
            # a training stopped part-way (no final weights yet); one stopped in its evaluations
            # keeps its final weights: --resume then only evaluates
            if (task.restart_stopped and os.path.isdir(task.output_dir) and os.listdir(task.output_dir)
                    and not os.path.isfile(task.artifact)):
                log(f"[benchmark] {task.name}: a stopped run of it is in its folder; trained again from "
                    "its start (seed-paired rows are never resumed)")
                shutil.rmtree(task.output_dir)
            os.makedirs(task.output_dir, exist_ok=True)
            log_path = os.path.join(task.output_dir, LOG_FILE)
            again = " (again, for its checkpoint)" if states[task.name] == "retrain" else ""
            log(f"[benchmark] ({started}/{total}) {task.name}: started{again}, log {os.path.relpath(log_path)}")
            steps[task.name] = 0
            earlier[task.name] = earlier_wall_s(task)
            progress_at_start[task.name] = _progress(task)
            running[task.name] = (task, start(task, task.command), time.time())
        if not running:
            if deadline is not None:
                break  # what is left does not fit the budget (or waits on what does not)
            names = ", ".join(t.name for t in pending)
            raise BenchmarkError(f"Runs {names} wait for runs that are not in the benchmark")
        time.sleep(0.5)
        if deadline is not None and time.time() > deadline:
            for name, (task, proc, began) in list(running.items()):
                _stop(proc)
                note_wall_s(task, earlier[name] + time.time() - began)
                summary.stopped.append(name)
                log(f"[benchmark] {name}: stopped at the budget after {_progress(task)} of {task.iterations} "
                    "iterations; the next invocation resumes it from its last checkpoint")
            running.clear()
            break
        if time.time() - last_progress >= progress_every:
            last_progress = time.time()
            for name, (task, _, began) in running.items():
                # a resumed piece starts at its last checkpoint, below what its folder said at the start
                progress_at_start[name] = min(progress_at_start[name], _progress(task))
                log(_progress_line(task, time.time() - began, progress_at_start[name]))
                note_wall_s(task, earlier[name] + time.time() - began)
        for name, (task, proc, start_time) in list(running.items()):
            if proc.poll() is None:
                continue
            log_path = os.path.join(task.output_dir, LOG_FILE)
            if proc.returncode == 0 and steps[name] < len(task.evaluations):
                dataset, command = task.evaluations[steps[name]]
                steps[name] += 1
                log(f"[benchmark] {name}: trained; evaluating its final weights on {dataset}")
                # an evaluation stopped or failed earlier left its folder: start it afresh there
                shutil.rmtree(os.path.join(task.output_dir, EVAL_FOLDER.format(dataset)), ignore_errors=True)
                running[name] = (task, start(task, command), start_time)
                continue
            del running[name]
            if proc.returncode != 0:
                note_wall_s(task, earlier[name] + time.time() - start_time)
                for other, p, began in running.values():
                    _stop(p)
                    note_wall_s(other, earlier[other.name] + time.time() - began)
                tail = open(log_path).read()[-3000:]
                step = ("its training" if steps[name] == 0
                        else f"its evaluation on {task.evaluations[steps[name] - 1][0]}")
                raise BenchmarkError(
                    f"{task.name} failed in {step} (exit {proc.returncode}); log {log_path}:\n{tail}\n"
                    "Fix the cause and run the same command again: finished runs are kept."
                )
            wall_s = earlier[name] + time.time() - start_time
            note_wall_s(task, wall_s)
            result = _finish(task, wall_s)
            done.add(name)
            if states[name] == "retrain":
                summary.retrained.append(name)
                _compare_retrained(task, store, log)
            else:
                task.result = result
                summary.finished.append(name)
                if store is not None:
                    record = make_record(task, result, _inputs(task, by_name), profile)
                    task.result = record
                    _keep(store, record, commit, log)
                    known.append(record)
            ap = (task.result.get("metrics") or {}).get("bbox/AP")
            log(f"[benchmark] {task.name}: done in {result['wall_s']:.0f} s"
                + ("" if ap is None else f", bbox AP {ap:.2f}"))
    summary.not_started = [t.name for t in pending]
    if summary.not_started or summary.stopped:
        left = summary.stopped + summary.not_started
        seconds = sum(estimate_seconds(by_name[n], known)[0] for n in left)
        log(f"[benchmark] budget reached: {len(summary.finished)} run(s) finished now, {len(left)} left "
            f"({', '.join(left)}), about {seconds / 60:.0f} min of runs at {jobs} at a time's pace; "
            "run the same command again to go on")
    return summary


def _inputs(task: Task, by_name: Dict[str, Task]) -> Dict[str, Task]:
    return {name: by_name[name] for name in task.needs if name in by_name}


def _keep(store, record: dict, commit: bool, log) -> None:
    path = store.write(record)
    if commit:
        ap = (record.get("metrics") or {}).get("bbox/AP")
        what = "" if ap is None else f", bbox AP {ap:.2f}"
        commit_record(path, f"Benchmark record: {record.get('profile') or 'benchmark'} {record['task']}{what}",
                      log=log)


def _stop(proc: subprocess.Popen) -> None:
    """Stop a training and the data-loading workers it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


def _progress_line(task: Task, elapsed: float, done_at_start: int = 0) -> str:
    """The progress of a running task; ``elapsed``: seconds since this invocation started it,
    ``done_at_start``: iterations its folder held then (the ETA counts only this piece's pace)."""
    if not task.iterations:  # the box cache: no iterations to count
        return f"[benchmark] {task.name}: running for {elapsed / 60:.1f} min"
    done = _progress(task)
    pace = (done - done_at_start) / elapsed if elapsed > 0 else 0.0
    eta = f", ETA {(task.iterations - done) / pace / 60:.1f} min" if pace > 0 else ""
    return f"[benchmark] {task.name}: iteration {done}/{task.iterations or '?'} after {elapsed / 60:.1f} min{eta}"


def _compare_retrained(task: Task, store, log) -> None:
    """After a task done by record was trained again for its checkpoint: say whether its weights
    are the recorded ones, and which recorded runs used the recorded ones if not."""
    recorded = (task.result or {}).get("sha256")
    now = artifact_digest(task)
    if recorded == now:
        log(f"[benchmark] {task.name}: trained again, the same weights as its record (sha256 {now[:12]})")
        return
    users = store.users_of(task.name, recorded) if store is not None and recorded else []
    log(f"[benchmark] WARNING {task.name}: trained again, its weights differ from its record's "
        f"(sha256 {now[:12]}, record {str(recorded)[:12]}); the recorded runs "
        f"{', '.join(users) or '(none)'} used the recorded checkpoint, the runs trained from now on use "
        "the new one: compare them with care, or retrain those rows (delete their records)")
