"""sentry.records keeps the dataclasses contract the sentry relies on."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar, List

import pytest

from sentry import records
from sentry.records import FrozenInstanceError, dataclass, field


@dataclass
class Plain:
    KIND: ClassVar[int] = 5  # not a field
    a: int
    b: str = "x"
    c: List[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.doubled = self.a * 2


@dataclass
class Derived(Plain):
    e: int = 7


@dataclass(frozen=True)
class Frozen:
    a: int
    b: int = 2


@dataclasses.dataclass
class Reference:
    a: int
    b: str = "x"
    c: List[int] = dataclasses.field(default_factory=list)


def test_behaves_like_a_dataclass() -> None:
    p = Plain(1)
    ref = Reference(1)
    assert repr(p) == repr(ref).replace("Reference", "Plain")
    assert (p.a, p.b, p.c, p.doubled) == (1, "x", [], 2)
    assert records.fields(Plain) == ("a", "b", "c") == tuple(
        f.name for f in dataclasses.fields(Reference))
    assert Plain(1, "y", c=[3]) == Plain(1, "y", [3]) != Plain(1)
    assert Plain(1) != Reference(1)  # another class is never equal
    assert Plain(1).c is not Plain(1).c  # a fresh default per instance
    assert not hasattr(Plain, "c") and Plain.b == "x" and Plain.KIND == 5
    with pytest.raises(TypeError):
        hash(p)  # mutable: compared by value, not hashable
    with pytest.raises(TypeError):
        Plain()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Plain(1, nope=2)  # type: ignore[call-arg]


def test_inheritance_keeps_the_bases_fields_and_defaults() -> None:
    d = Derived(1)
    assert records.fields(d) == ("a", "b", "c", "e")
    assert (d.a, d.b, d.c, d.e, d.doubled) == (1, "x", [], 7, 2)
    assert Derived(2, "y", [1], 3) == Derived(a=2, b="y", c=[1], e=3)


def test_frozen_refuses_changes_and_hashes_by_value() -> None:
    f = Frozen(1)
    with pytest.raises(FrozenInstanceError):
        f.a = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del f.b
    assert hash(f) == hash(Frozen(1, 2)) and {f: "v"}[Frozen(1)] == "v"


def test_replace_asdict_pickle_copy() -> None:
    f = Frozen(1)
    assert records.replace(f, b=9) == Frozen(1, 9) and f.b == 2
    with pytest.raises(TypeError):
        records.replace(f, z=1)
    got = records.asdict(Plain(2, c=[Frozen(1)]))  # type: ignore[list-item]
    assert got == {"a": 2, "b": "x", "c": [{"a": 1, "b": 2}]}
    for obj in (Plain(3, c=[1]), Frozen(4), Derived(5)):
        assert pickle.loads(pickle.dumps(obj)) == obj
        assert copy.deepcopy(obj) == obj


def test_a_required_field_after_a_default_is_refused() -> None:
    with pytest.raises(TypeError):
        @dataclass
        class Bad:
            a: int = 1
            b: int  # type: ignore[misc]
