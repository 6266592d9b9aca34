"""The stages of a config (d2kd.engine.stages), method-agnostic: stage configs, the stages
offered to the tool (hand-off, finished stages), checks, and a two-stage run through
tools/lazyconfig_train_net.py on the tiny dataset (hand-off of the student, interruption in
stage 2, --resume, comparison table, model.inherit)."""
import json
import os

import pytest
import torch
from omegaconf import OmegaConf
from tool_runs import ROOT, load_tool

from d2kd.config import ConfigError
from d2kd.engine import checks
from d2kd.engine.hooks import StudentHandoff, TeacherInheritance, unwrap_model
from d2kd.engine.stages import (
    SUMMARY_FILE,
    check_stages,
    stage_config,
    stages_of,
    summary_table,
)
from d2kd.losses import FitNetLoss
from d2kd.modeling import DistillationDetector, Teacher
from d2kd.modeling.checkpoint import read_state_dict
from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig, instantiate
from detectron2.engine import HookBase, default_argument_parser


def _tiny_model_cfg(width=8, channels=16):
    model = LazyConfig.load(os.path.join(ROOT, "configs/common/models/retinanet.py")).model
    model.backbone.bottom_up.stages.base_width = width
    model.backbone.out_channels = channels
    model.test_score_thresh = 0.0  # random weights: low scores, but an AP that is a number
    return model


def _stages_cfg(tmp_path, weak="weak.pth", strong="strong.pth"):
    """Two stages: teacher (width 16, 24 ch) then teacher (width 24, 32 ch); FitNet on p3, p4."""
    data = LazyConfig.load(os.path.join(ROOT, "configs/common/data/shapes.py")).dataloader
    data.train.dataset.names = "d2kd_shapes_tiny_train"
    data.test.dataset.names = "d2kd_shapes_tiny_val"
    data.train.mapper.augmentations[0].short_edge_length = [96, 112]
    data.test.mapper.augmentations[0].short_edge_length = 96
    data.train.total_batch_size = 2
    data.train.num_workers = 0
    data.test.num_workers = 0
    optim = LazyConfig.load(os.path.join(ROOT, "configs/common/optim.py"))
    train = LazyConfig.load(os.path.join(ROOT, "configs/common/train.py")).train
    train.update(
        max_iter=3, eval_period=100, log_period=1, output_dir=str(tmp_path / "run"), device="cpu"
    )
    train.checkpointer.period = 2
    strong_model = _tiny_model_cfg(24, 32)
    cfg = OmegaConf.create(
        dict(
            model=L(DistillationDetector)(
                student=_tiny_model_cfg(),
                teachers=L(Teacher)(model=strong_model, weights=str(tmp_path / strong)),
                distill_losses=[L(FitNetLoss)(in_features=["p3", "p4"])],
            ),
            dataloader=data,
            optimizer=optim.SGD,
            lr_multiplier=optim.lr_multiplier,
            train=train,
            stages=[
                dict(
                    name="weak",
                    model=dict(teachers=dict(model=_tiny_model_cfg(16, 24), weights=str(tmp_path / weak))),
                ),
                dict(name="strong", train=dict(max_iter=4)),
            ],
        ),
        flags={"allow_objects": True},
    )
    return cfg


def _write_teachers(cfg):
    for i in range(len(cfg.stages)):
        teacher = stage_config(cfg, i).model.teachers
        torch.manual_seed(i)
        torch.save({"model": instantiate(teacher.model).state_dict()}, teacher.weights)


# ---- stage configs and checks (no training) ---------------------------------------------


def test_stage_config_merges_overrides(tmp_path):
    cfg = _stages_cfg(tmp_path)
    first, second = stage_config(cfg, 0), stage_config(cfg, 1)
    assert "stages" not in first
    assert first.model.teachers.weights.endswith("weak.pth")
    assert first.model.teachers.model.backbone.out_channels == 24
    assert first.model.student.backbone.out_channels == 16  # merged, not replaced
    assert second.model.teachers.weights.endswith("strong.pth")
    assert first.train.max_iter == 3 and second.train.max_iter == 4
    assert first.train.output_dir.endswith(os.path.join("run", "stage1"))
    assert second.train.output_dir.endswith(os.path.join("run", "stage2"))
    assert cfg.train.output_dir.endswith("run")  # the config itself is untouched

    cfg.train.init_checkpoint = "pretrained.pth"
    assert stage_config(cfg, 0).train.init_checkpoint == "pretrained.pth"
    assert stage_config(cfg, 1).train.init_checkpoint == ""  # the student comes from stage 1
    # a LazyCall node replaces the whole value
    cfg.stages[1].model = L(DistillationDetector)(student=_tiny_model_cfg(), teachers=None, distill_losses=[])
    assert stage_config(cfg, 1).model.teachers is None


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: setattr(c, "stages", []), "non-empty list"),
        (lambda c: c.stages[0].update(lr=0.1), "unknown keys \\['lr'\\]"),
        (lambda c: c.stages[1].update(name="weak"), "repeated: \\['weak'\\]"),
        (lambda c: c.stages[0].model.update(teachers=None), "Stage 1 \\(weak\\) has no teacher"),
        (lambda c: c.stages[1].train.update(max_iter=0), "max_iter must be > 0"),
    ],
)
def test_bad_stage_declarations(tmp_path, edit, message):
    cfg = _stages_cfg(tmp_path)
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        check_stages(cfg)


def test_stages_of_offers_each_stage_with_its_handoff(tmp_path):
    cfg = _stages_cfg(tmp_path)
    run = tmp_path / "run"
    first, second = stages_of(cfg)
    assert (first.index, first.name, first.num_stages, first.staged) == (0, "weak", 2, True)
    assert (second.index, second.name) == (1, "strong")
    assert first.output_dir == str(run / "stage1") and second.output_dir == str(run / "stage2")
    # the hand-off: stage 2 starts from stage 1's final student, stage 1 from train.init_checkpoint
    assert first.handoff == "" and second.handoff == str(run / "stage1" / "model_final.pth")
    assert second.cfg.train.init_checkpoint == ""
    assert [type(h).__name__ for h in second.hooks()] == ["StageBanner", "StudentHandoff", "StageResultWriter"]
    assert [type(h).__name__ for h in first.hooks()] == ["StageBanner", "StageResultWriter"]
    assert first.name_key("model.teachers.weights") == "stages.0.model.teachers.weights"
    assert second.name_key("model.teachers.weights") == "model.teachers.weights"
    # a stage that sets its own train.init_checkpoint has no hand-off
    cfg.stages[1].train.init_checkpoint = "mine.pth"
    second = stages_of(cfg)[1]
    assert second.handoff == "" and second.cfg.train.init_checkpoint == "mine.pth"
    assert "StudentHandoff" not in [type(h).__name__ for h in second.hooks()]


def test_a_stage_is_finished_when_its_final_weights_exist(tmp_path):
    cfg = _stages_cfg(tmp_path)
    assert [s.finished for s in stages_of(cfg)] == [False, False]
    (tmp_path / "run" / "stage1").mkdir(parents=True)
    (tmp_path / "run" / "stage1" / "model_final.pth").write_bytes(b"")
    assert [s.finished for s in stages_of(cfg)] == [True, False]


def test_a_config_without_stages_is_one_stage_the_run_itself(tmp_path):
    cfg = _stages_cfg(tmp_path)
    cfg.pop("stages")
    (stage,) = stages_of(cfg)
    assert stage.cfg is cfg and not stage.staged and stage.handoff == "" and stage.hooks() == []
    assert stage.output_dir == str(tmp_path / "run")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model_final.pth").write_bytes(b"")
    assert not stage.finished  # --resume continues a plain run (detectron2's checkpointer)
    assert stage.name_key("model.teachers.weights") == "model.teachers.weights"


def test_summary_table():
    rows = [
        dict(index=1, name="weak", teacher="RetinaNet (w.pth)", iterations=3, results={"bbox/AP": 1.5, "bbox/AP50": 3.0}),
        dict(index=2, name="strong", teacher="RetinaNet (s.pth)", iterations=4, results={}),
    ]
    lines = summary_table(rows).splitlines()
    assert lines[0] == "| stage | name | teacher | iters | AP | AP50 | AP75 | APs | APm | APl |"
    assert lines[2] == "| 1 | weak | RetinaNet (w.pth) | 3 | 1.50 | 3.00 | n/a | n/a | n/a | n/a |"
    assert lines[3].startswith("| 2 | strong |") and lines[3].endswith("n/a |")


# ---- a real two-stage run ----------------------------------------------------------------


class _Capture(HookBase):
    """Records the student weights and the teacher at the start of training."""

    def __init__(self, sink):
        self.sink = sink

    def before_train(self):
        model = unwrap_model(self.trainer.model)
        self.sink["student"] = {k: v.clone() for k, v in model.student.state_dict().items()}
        self.sink["teacher"] = model.teachers["teacher"].weights
        self.sink["start_iter"] = self.trainer.start_iter
        self.sink["handoff"] = [h for h in self.trainer._hooks if isinstance(h, StudentHandoff)]
        self.sink["hooks"] = list(self.trainer._hooks)


class _Interrupt(HookBase):
    def after_step(self):
        if self.trainer.iter == 2:
            raise KeyboardInterrupt("simulated interruption")


@pytest.fixture(scope="module")
def tiny_datasets(tmp_path_factory):
    from d2kd.data import register_shapes_datasets

    root = tmp_path_factory.mktemp("datasets")
    old = os.environ.get("D2KD_DATASETS")
    os.environ["D2KD_DATASETS"] = str(root)
    register_shapes_datasets(str(root))
    yield root
    if old is None:
        del os.environ["D2KD_DATASETS"]
    else:
        os.environ["D2KD_DATASETS"] = old
    register_shapes_datasets()


def _with_hooks(monkeypatch, tool, extra):
    """The tool's do_train, with ``extra(index)``'s hooks after the stage's (index 0-based)."""
    real = tool.do_train

    def do_train(args, cfg, extra_hooks=()):
        index = int(os.path.basename(cfg.train.output_dir)[len("stage"):]) - 1
        real(args, cfg, extra_hooks=list(extra_hooks) + extra(index))

    monkeypatch.setattr(tool, "do_train", do_train)


def _saved(cfg, tmp_path):
    path = tmp_path / "config.yaml"
    LazyConfig.save(cfg, str(path))
    return path


def test_two_stages_handoff_interruption_and_resume(tmp_path, tiny_datasets, monkeypatch):
    tool = load_tool("lazyconfig_train_net")
    cfg = _stages_cfg(tmp_path)
    _write_teachers(cfg)
    path = _saved(cfg, tmp_path)
    args = default_argument_parser().parse_args(["--config-file", str(path)])
    seen = {0: {}, 1: {}}
    _with_hooks(monkeypatch, tool, lambda index: [_Capture(seen[index])] + ([_Interrupt()] if index == 1 else []))

    with pytest.raises(KeyboardInterrupt):
        tool.main(args)
    run = tmp_path / "run"
    stage1, stage2 = run / "stage1", run / "stage2"
    assert (stage1 / "model_final.pth").exists() and (stage1 / "stage_result.json").exists()
    assert (stage1 / "metrics.json").exists() and (stage1 / "config.yaml").exists()
    assert not (stage2 / "model_final.pth").exists() and (stage2 / "model_0000001.pth").exists()

    # stage 2 started from exactly stage 1's final student, with the stronger teacher
    final_student = read_state_dict(str(stage1 / "model_final.pth"))
    assert set(seen[1]["student"]) == set(final_student)
    for key, value in final_student.items():
        assert torch.equal(seen[1]["student"][key], value), key
    assert seen[1]["teacher"].endswith("strong.pth") and seen[0]["teacher"].endswith("weak.pth")
    assert seen[1]["handoff"] and not seen[0]["handoff"]
    # ... and only the student was carried: stage 2's adapters are fresh
    stage1_adapter = torch.load(stage1 / "model_final.pth", weights_only=True)["model"]["adapters.teacher.p3.weight"]
    assert stage1_adapter.shape != torch.Size([32, 16, 1, 1])  # 16 -> 24 channels in stage 1, 16 -> 32 in stage 2

    # without --resume the tool refuses; with it, stage 1 is skipped and stage 2 continues
    with pytest.raises(ConfigError, match="--resume"):
        tool.main(args)
    monkeypatch.undo()
    stage1_mtime = os.path.getmtime(stage1 / "model_final.pth")
    tool.main(default_argument_parser().parse_args(["--config-file", str(path), "--resume"]))
    assert os.path.getmtime(stage1 / "model_final.pth") == stage1_mtime
    assert (stage2 / "model_final.pth").exists()
    with open(stage2 / "metrics.json") as f:
        iterations = [json.loads(line)["iteration"] for line in f if "total_loss" in line]
    # 0-2 before the interruption (the last checkpoint was after 1), then 2-3 resumed
    assert iterations == [0, 1, 2, 2, 3]
    with open(stage1 / "metrics.json") as f:
        assert [json.loads(line)["iteration"] for line in f if "total_loss" in line] == [0, 1, 2]

    summary = json.loads((run / f"{SUMMARY_FILE}.json").read_text())["stages"]
    assert [r["name"] for r in summary] == ["weak", "strong"]
    assert all("bbox/AP" in r["results"] for r in summary)
    table = (run / f"{SUMMARY_FILE}.md").read_text()
    assert "| 1 | weak |" in table and "| 2 | strong |" in table and "stage2/model_final.pth" in table
    # the final student is also where detectron2 users look for it: the run's own model_final.pth
    assert (run / "model_final.pth").read_bytes() == (stage2 / "model_final.pth").read_bytes()
    log = (run / "log.txt").read_text()
    assert "SAL stage 1/2 (weak) is finished" in log and "SAL stage 2/2 (strong) resumes" in log

    # a finished stage whose results were never written (e.g. a crash in the final
    # evaluation) is evaluated from its model_final.pth, not retrained
    (stage1 / "stage_result.json").unlink()
    monkeypatch.setattr(tool, "do_train", None)  # must not train
    tool.main(default_argument_parser().parse_args(["--config-file", str(path), "--resume"]))
    assert (stage1 / "stage_result.json").exists()
    rows = json.loads((run / f"{SUMMARY_FILE}.json").read_text())["stages"]
    assert rows[0]["results"]["bbox/AP"] == pytest.approx(summary[0]["results"]["bbox/AP"])


def test_a_handed_off_stage_does_not_inherit_from_its_teacher(tmp_path, tiny_datasets, monkeypatch):
    """With model.inherit, stage 1 copies its teacher's modules into the student; stage 2 starts
    from stage 1's final student (the hand-off, which would overwrite a copy): no inheritance
    there, and the log says so rather than that it inherited."""
    tool = load_tool("lazyconfig_train_net")
    cfg = _stages_cfg(tmp_path)
    cfg.model.teachers.model = _tiny_model_cfg()  # as wide as the student: its head fits
    cfg.stages[0].model.teachers.model = _tiny_model_cfg()
    cfg.model.inherit = ["head"]
    cfg.train.max_iter = 2
    cfg.stages[1].train.max_iter = 2
    _write_teachers(cfg)
    path = _saved(cfg, tmp_path)
    seen = {0: {}, 1: {}}
    _with_hooks(monkeypatch, tool, lambda index: [_Capture(seen[index])])
    tool.main(default_argument_parser().parse_args(["--config-file", str(path)]))

    assert [h for h in seen[0]["hooks"] if isinstance(h, TeacherInheritance)]
    assert not [h for h in seen[1]["hooks"] if isinstance(h, TeacherInheritance)] and seen[1]["handoff"]
    # stage 1 started with the weak teacher's head; stage 2 with stage 1's final student, whole
    weak_head = {k: v for k, v in read_state_dict(str(tmp_path / "weak.pth")).items() if k.startswith("head.")}
    assert weak_head and all(torch.equal(seen[0]["student"][k], v) for k, v in weak_head.items())
    final_student = read_state_dict(str(tmp_path / "run" / "stage1" / "model_final.pth"))
    assert set(seen[1]["student"]) == set(final_student)
    assert all(torch.equal(seen[1]["student"][k], v) for k, v in final_student.items())
    log = (tmp_path / "run" / "log.txt").read_text()
    assert log.count("Student inherited") == 1
    assert "model.inherit=['head'] not applied: the student comes from the previous stage" in log


# ---- a run that fails before its stages train ----------------------------------------------


def test_a_stage_that_cannot_be_built_leaves_no_empty_stage_folder(tmp_path, tiny_datasets, monkeypatch):
    """Stage 2's model cannot be built (a negative loss weight): a Config error before anything
    trains, and the stage folders that the checks made are gone (the run's own too, when the
    run made it)."""
    tool = load_tool("lazyconfig_train_net")
    cfg = _stages_cfg(tmp_path)
    _write_teachers(cfg)
    cfg.stages[1].model = dict(distill_losses=[L(FitNetLoss)(in_features=["p3", "p4"], weight=-1.0)])
    args = default_argument_parser().parse_args(["--config-file", str(_saved(cfg, tmp_path))])
    run = tmp_path / "run"
    made = []
    check_config = checks.check_config

    def check(args, stage_cfg, name_key):  # the checks of each stage, which make its folder
        check_config(args, stage_cfg, name_key)
        made.append(os.path.isdir(stage_cfg.train.output_dir))

    def do_train(*args, **kwargs):
        pytest.fail("a stage trained")

    monkeypatch.setattr(checks, "check_config", check)
    monkeypatch.setattr(tool, "do_train", do_train)
    with pytest.raises(ConfigError, match=r"^Stage 2 \(strong\): model cannot be built: ValueError: .*weight"):
        tool.main(args)
    assert made == [True, True]  # the checks made both stage folders ...
    assert not run.exists()  # ... and the failed run removed them, and its own folder

    # into a folder that was there before: it stays (empty), no stage folder
    run.mkdir()
    with pytest.raises(ConfigError, match=r"^Stage 2 \(strong\): model cannot be built"):
        tool.main(args)
    assert run.is_dir() and list(run.iterdir()) == []


def test_stage_key_names_a_key_as_the_user_sets_it(tmp_path):
    from d2kd.config.stages import stage_key

    cfg = _stages_cfg(tmp_path)
    # stage 1 declares its teacher: its keys are the stage's
    assert stage_key(cfg, 0, "model.teachers.weights") == "stages.0.model.teachers.weights"
    assert stage_key(cfg, 0, "model.teachers.model.num_classes") == "stages.0.model.teachers.model.num_classes"
    # stage 2 takes the top-level teacher; stage 1 the top-level student and losses
    assert stage_key(cfg, 1, "model.teachers.weights") == "model.teachers.weights"
    assert stage_key(cfg, 0, "model.student.num_classes") == "model.student.num_classes"
    assert stage_key(cfg, 0, "model.distill_losses.0.weight") == "model.distill_losses.0.weight"
    assert stage_key(cfg, 1, "train.max_iter") == "stages.1.train.max_iter"
    assert stage_key(cfg, 0, "train.max_iter") == "train.max_iter"
    # a LazyCall node or a list replaces the value whole: every key under it is the stage's
    cfg.stages[1].model = L(DistillationDetector)(student=_tiny_model_cfg(), teachers=None, distill_losses=[])
    assert stage_key(cfg, 1, "model.student.num_classes") == "stages.1.model.student.num_classes"
    cfg.stages[0].model.distill_losses = [L(FitNetLoss)(in_features=["p3"])]
    assert stage_key(cfg, 0, "model.distill_losses.0.weight") == "stages.0.model.distill_losses.0.weight"
