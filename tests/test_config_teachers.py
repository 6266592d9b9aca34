"""d2kd.config.teachers: the one reader of a config's teachers, on hand-made configs."""
from omegaconf import OmegaConf

from d2kd.config.teachers import ConfigTeacher, iter_teachers, teacher_weights_keys

TEACHER = "d2kd.modeling.teacher.Teacher"


def _teacher(weights):
    return {"_target_": TEACHER, "model": {"_target_": "Detector", "num_classes": 3}, "weights": weights}


def _keys_and_names(teachers):
    return [(t.key, t.name) for t in teachers]


def test_one_teacher():
    cfg = OmegaConf.create({"model": {"student": {"num_classes": 3}, "teachers": _teacher("t.pth")}})
    teachers = iter_teachers(cfg.model)
    assert _keys_and_names(teachers) == [("model.teachers", None)]
    assert isinstance(teachers[0], ConfigTeacher)
    assert teachers[0].node == cfg.model.teachers
    assert teachers[0].node.weights == "t.pth"
    assert teacher_weights_keys(cfg) == {"model.teachers.weights": "t.pth"}


def test_named_teachers_in_config_order():
    cfg = OmegaConf.create({"model": {"teachers": {"strong": _teacher("s.pth"), "weak": _teacher("w.pth")}}})
    assert _keys_and_names(iter_teachers(cfg.model)) == [
        ("model.teachers.strong", "strong"), ("model.teachers.weak", "weak")]
    assert [t.node.weights for t in iter_teachers(cfg.model)] == ["s.pth", "w.pth"]
    assert teacher_weights_keys(cfg) == {"model.teachers.strong.weights": "s.pth",
                                         "model.teachers.weak.weights": "w.pth"}
    # the model's own key prefixes the teachers' keys
    assert _keys_and_names(iter_teachers(cfg.model, "stages.1.model")) == [
        ("stages.1.model.teachers.strong", "strong"), ("stages.1.model.teachers.weak", "weak")]


def test_sal_stages_with_their_own_teachers():
    cfg = OmegaConf.create({
        "model": {"teachers": _teacher("strong.pth")},
        "stages": [
            {"name": "weak", "model": {"teachers": _teacher("weak.pth")}},
            {"name": "strong"},  # takes over the top-level teacher
            {"name": "both", "model": {"teachers": {"a": _teacher("a.pth"), "b": _teacher("b.pth")}}},
            {"name": "student only", "model": {"inherit": ["backbone"]}},
        ],
    })
    assert _keys_and_names(iter_teachers(cfg.stages[0].model, "stages.0.model")) == [("stages.0.model.teachers", None)]
    assert teacher_weights_keys(cfg) == {
        "model.teachers.weights": "strong.pth",
        "stages.0.model.teachers.weights": "weak.pth",
        "stages.2.model.teachers.a.weights": "a.pth",
        "stages.2.model.teachers.b.weights": "b.pth",
    }
    assert list(teacher_weights_keys(cfg)) == [  # the top level's first, then the stages in order
        "model.teachers.weights", "stages.0.model.teachers.weights",
        "stages.2.model.teachers.a.weights", "stages.2.model.teachers.b.weights"]


def test_no_teachers():
    plain = OmegaConf.create({"model": {"_target_": "Detector", "num_classes": 3}})
    assert iter_teachers(plain.model) == []
    assert teacher_weights_keys(plain) == {}
    for teachers in (None, {}):
        assert iter_teachers(OmegaConf.create({"teachers": teachers})) == []
    assert iter_teachers(None) == []
    assert iter_teachers(OmegaConf.create({"teachers": "not a node"})) == []
    # a teacher without a weights key has no weights key to override
    no_weights = OmegaConf.create({"model": {"teachers": {"_target_": TEACHER, "model": {}}}})
    assert _keys_and_names(iter_teachers(no_weights.model)) == [("model.teachers", None)]
    assert teacher_weights_keys(no_weights) == {}


def test_plain_dicts_read_alike():
    model = {"teachers": {"x": _teacher("x.pth")}}
    assert _keys_and_names(iter_teachers(model)) == [("model.teachers.x", "x")]
    assert teacher_weights_keys({"model": model, "stages": [{"model": {"teachers": _teacher("y.pth")}}]}) == {
        "model.teachers.x.weights": "x.pth", "stages.0.model.teachers.weights": "y.pth"}
