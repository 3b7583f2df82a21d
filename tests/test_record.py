"""gpudoctor.record behaves as dataclasses.dataclass on every point gpudoctor relies on.

Each test declares the same class twice, once with `@dataclass` and once with `@record`, and
asserts that both behave alike; the last tests cover what record refuses instead of doing
differently. tests/test_foundation_plugins.py checks that `--json` imports no dataclasses.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar

import pytest

from gpudoctor import record as record_module
from gpudoctor.record import FrozenInstanceError, field, fields, record, replace


def both(frozen: bool = False):
    """The same class body made a dataclass and a record."""
    def body(make_field):
        class Device:
            """A device node."""

            kind: ClassVar[str] = "char"
            path: str
            major: int
            minor: int = 0
            groups: list[str] = make_field(default_factory=list)

            def name(self) -> str:
                return self.path.rsplit("/", 1)[-1]
        return Device

    return (dataclasses.dataclass(frozen=frozen)(body(dataclasses.field)),
            record(frozen=frozen)(body(field)))


@pytest.fixture(params=["shared", "compiled"])
def init_kind(request, monkeypatch):
    """Run a test with records' shared `__init__`, then with the compiled one."""
    monkeypatch.setattr(record_module, "COMPILE_AFTER", 1 if request.param == "compiled" else 10**9)
    return request.param


@pytest.mark.parametrize("frozen", [False, True])
def test_construction_defaults_and_repr_match_dataclass(frozen, init_kind):
    plain, rec = both(frozen)
    for args, kwargs in [(("/dev/dri/renderD128", 226), {}),
                         (("/dev/kfd",), {"major": 511, "minor": 3}),
                         ((), {"path": "/dev/nvidia0", "major": 195, "groups": ["video"]})]:
        a, b = plain(*args, **kwargs), rec(*args, **kwargs)
        assert repr(a) == repr(b)
        assert vars(a) == vars(b)
        assert b.name() == a.name()
    assert fields(rec) == ("path", "major", "minor", "groups")
    assert rec.__match_args__ == plain.__match_args__
    assert rec.kind == "char"  # a ClassVar is not a field


@pytest.mark.parametrize("frozen", [False, True])
def test_argument_errors_match_dataclass(frozen, init_kind):
    plain, rec = both(frozen)
    for args, kwargs, says in [((), {}, "missing"), (("/dev/kfd",), {}, "missing"),
                               (("/dev/kfd", 1), {"colour": "red"}, "unexpected keyword"),
                               (("/dev/kfd", 1, 2, [], "extra"), {}, "positional"),
                               (("/dev/kfd", 1), {"path": "/dev/x"}, "multiple values")]:
        with pytest.raises(TypeError, match=says):
            plain(*args, **kwargs)
        with pytest.raises(TypeError, match=says):
            rec(*args, **kwargs)


def test_a_class_compiles_its_own_init_once_it_has_made_many(monkeypatch):
    monkeypatch.setattr(record_module, "COMPILE_AFTER", 3)
    _, rec = both()
    shared = rec.__init__
    made = [rec(f"/dev/{i}", i) for i in range(2)]
    assert rec.__init__ is shared
    made += [rec(f"/dev/{i}", i, minor=i) for i in range(2, 5)]
    assert rec.__init__ is not shared
    assert [(d.path, d.major, d.minor, d.groups) for d in made] == [
        ("/dev/0", 0, 0, []), ("/dev/1", 1, 0, []), ("/dev/2", 2, 2, []), ("/dev/3", 3, 3, []),
        ("/dev/4", 4, 4, [])]


def test_default_factory_gives_each_instance_its_own_value(init_kind):
    _, rec = both()
    first, second = rec("/dev/a", 1), rec("/dev/b", 2)
    first.groups.append("render")
    assert second.groups == []


@pytest.mark.parametrize("frozen", [False, True])
def test_equality_is_by_value_within_one_class(frozen):
    plain, rec = both(frozen)
    assert rec("/dev/a", 1) == rec("/dev/a", 1)
    assert rec("/dev/a", 1) != rec("/dev/a", 2)
    assert rec("/dev/a", 1) != plain("/dev/a", 1)  # another class, as with dataclasses
    assert (plain("/dev/a", 1) == plain("/dev/a", 1)) is True


def test_mutable_records_are_unhashable_and_frozen_ones_hash_by_value():
    plain, rec = both(frozen=False)
    with pytest.raises(TypeError):
        hash(plain("/dev/a", 1))
    with pytest.raises(TypeError):
        hash(rec("/dev/a", 1))

    @record(frozen=True)
    class Key:
        name: str
        number: int = 0

    assert hash(Key("a", 1)) == hash(Key("a", 1))
    assert len({Key("a", 1), Key("a", 1), Key("b")}) == 2


def test_frozen_records_refuse_assignment_like_dataclasses():
    plain, rec = both(frozen=True)
    for obj, error in ((plain("/dev/a", 1), dataclasses.FrozenInstanceError),
                       (rec("/dev/a", 1), FrozenInstanceError)):
        with pytest.raises(error):
            obj.major = 2
        with pytest.raises(error):
            del obj.major
        with pytest.raises(AttributeError):  # both are AttributeErrors
            obj.extra = 1
        assert obj.major == 1


def test_post_init_runs_after_the_fields_are_set(init_kind):
    @record
    class Size:
        text: str
        number: int = 0

        def __post_init__(self) -> None:
            self.number = int(self.text)

    assert Size("12").number == 12


def test_replace_copy_and_pickle():
    _, rec = both(frozen=True)
    original = rec("/dev/a", 1, 2, ["video"])
    changed = replace(original, minor=5)
    assert (changed.minor, changed.path, original.minor) == (5, "/dev/a", 2)
    with pytest.raises(TypeError, match="no field 'colour'"):
        replace(original, colour="red")
    assert copy.deepcopy(original) == original
    assert pickle.loads(pickle.dumps(Pickled("x", [1]))) == Pickled("x", [1])


@record(frozen=True)
class Pickled:
    """Module level, so pickle can find it."""

    name: str
    items: list[int] = field(default_factory=list)


def test_own_methods_are_kept():
    @record
    class Shown:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Shown("x")) == "<x>"


def test_what_record_does_not_support_is_refused_not_done_differently():
    with pytest.raises(ValueError, match="mutable default"):
        @record
        class Bad:
            items: list[str] = []

    with pytest.raises(TypeError, match="non-default argument 'b' follows default"):
        @record
        class Order:
            a: int = 0
            b: int

    @record
    class Base:
        a: int

    with pytest.raises(TypeError, match="cannot inherit fields"):
        @record
        class Child(Base):
            b: int = 0

    with pytest.raises(TypeError, match="not a record"):
        fields(object())

