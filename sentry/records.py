"""Record classes: the part of :mod:`dataclasses` the sentry uses, at a tenth of its cost.

``dataclasses.dataclass`` imports :mod:`inspect` (with :mod:`ast`, :mod:`dis` and
:mod:`tokenize`: ~14 ms) and builds each class's ``__init__``, ``__repr__``, ``__eq__``
(and, frozen, ``__setattr__``, ``__delattr__``, ``__hash__``) by compiling source, about
1 ms a class: together ~30 ms of every sandbox's start, before its workload runs.  Here
only ``__init__`` is generated (instances of some records are made on hot paths: a
``Stat`` per stat call), one ``exec`` a class, its code compiled when the code bundle is
built (``runsc_py.codebundle``; compiled here without one); the rest are shared functions.

What is kept of the dataclasses contract: fields are the annotated class attributes of
the class and its record bases, in order (``ClassVar`` ones excluded); a class attribute
is a field's default, :func:`field` gives a ``default_factory``; ``__post_init__`` is
called; ``frozen=True`` refuses assignment and hashes by the fields; :func:`replace`,
:func:`asdict` and :func:`fields` work on records.  Type checkers see them as dataclasses
(``typing.dataclass_transform``).
"""

from __future__ import annotations

import sys as _sys

# Not imported at run time (with re, ~3 ms of every CLI command: runsc_py.quick): the
# annotations are strings, and overload and dataclass_transform only tell type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Tuple, TypeVar, dataclass_transform, overload

    T = TypeVar("T")
else:
    def overload(f: object) -> object:
        return f

    def dataclass_transform(**_kw: object) -> object:
        return lambda f: f

_MISSING: Any = object()


class _Field:
    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory


def field(*, default_factory: Callable[[], Any]) -> Any:
    """A field whose default is made by *default_factory* for each instance."""
    return _Field(default_factory)


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen record (as ``dataclasses``')."""


def _fields_of(cls: type) -> Tuple[str, ...]:
    names: list = []
    for klass in reversed(cls.__mro__):
        for name, ann in klass.__dict__.get("__annotations__", {}).items():
            if "ClassVar" not in str(ann) and name not in names:
                names.append(name)
    return tuple(names)


def _repr(self: Any) -> str:
    inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__record_fields__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: object) -> bool:
    names: Tuple[str, ...] = self.__record_fields__
    if other.__class__ is not self.__class__:
        return NotImplemented
    return all(getattr(self, n) == getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in self.__record_fields__))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


#: Every ``__init__`` source :func:`_make` made in this process (the code bundle's
#: builder imports every module and keeps their code: ``runsc_py.codebundle``).
sources: set = set()


def _compiled(src: str) -> Any:
    """The code of *src*: from the code bundle if it has it (compiling is ~40 us a small
    class, ~250 us BootConfig: ~2 ms of every sentry's start), else compiled now."""
    sources.add(src)
    bundle = _sys.modules.get("runsc_py.codebundle")
    finder = bundle.installed() if bundle is not None else None
    code = finder.generated(src) if finder is not None else None
    return code if code is not None else compile(src, "<record>", "exec")


def _make(cls: type, frozen: bool) -> type:
    names = _fields_of(cls)
    env: Dict[str, Any] = {"_MISSING": _MISSING, "_set": object.__setattr__}
    params, body = [], []
    seen_default = False
    # name -> its default (a value, or a _Field): the class's own, else its bases'.
    defaults: Dict[str, Any] = {}
    for klass in reversed(cls.__mro__[1:]):
        defaults.update(klass.__dict__.get("__record_defaults__", {}))
    for name in names:
        if name in cls.__dict__:
            defaults[name] = cls.__dict__[name]
            if isinstance(defaults[name], _Field):
                delattr(cls, name)  # the marker is no class attribute
    for i, name in enumerate(names):
        default = defaults.get(name, _MISSING)
        if isinstance(default, _Field):
            env[f"_f{i}"] = default.factory
            params.append(f"{name}=_MISSING")
            value = f"_f{i}() if {name} is _MISSING else {name}"
            seen_default = True
        elif default is not _MISSING:
            env[f"_d{i}"] = default
            params.append(f"{name}=_d{i}")
            value = name
            seen_default = True
        else:
            if seen_default:
                raise TypeError(f"{cls.__name__}: field {name!r} without a default follows "
                                "one with a default")
            params.append(name)
            value = name
        body.append(f"    _set(self, {name!r}, {value})" if frozen else
                    f"    self.{name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    src = f"def __init__(self{''.join(', ' + p for p in params)}):\n" + "\n".join(
        body or ["    pass"])
    exec(_compiled(src), env)  # noqa: S102 - source built from the class's own field names
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    cls.__record_fields__ = names  # type: ignore[attr-defined]
    cls.__record_defaults__ = defaults  # type: ignore[attr-defined]
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr  # type: ignore[assignment]
    if "__eq__" not in cls.__dict__:
        cls.__eq__ = _eq  # type: ignore[assignment]
        if "__hash__" not in cls.__dict__:
            # Hashed by the fields when frozen; mutable ones are compared by value only.
            cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    if frozen:
        cls.__setattr__ = _frozen_setattr  # type: ignore[assignment]
        cls.__delattr__ = _frozen_delattr  # type: ignore[assignment]
    return cls


@overload
def dataclass(cls: type[T], /) -> type[T]: ...
@overload
def dataclass(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...  # noqa: F811


@dataclass_transform(field_specifiers=(field,))
def dataclass(cls: Any = None, /, *, frozen: bool = False) -> Any:  # noqa: F811
    """The record decorator: ``@dataclass`` or ``@dataclass(frozen=True)``."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


def fields(obj: Any) -> Tuple[str, ...]:
    """The field names of a record class or instance, in order."""
    return obj.__record_fields__  # type: ignore[no-any-return]


def replace(obj: T, **changes: Any) -> T:
    """A new record like *obj* with *changes* (``dataclasses.replace``)."""
    kw = {n: getattr(obj, n) for n in obj.__record_fields__}  # type: ignore[attr-defined]
    unknown = set(changes) - set(kw)
    if unknown:
        raise TypeError(f"{type(obj).__name__}: no field {', '.join(sorted(unknown))}")
    kw.update(changes)
    return type(obj)(**kw)


def asdict(obj: Any) -> Dict[str, Any]:
    """The record's fields as a dict, records inside it (also in lists, tuples and dicts)
    turned into dicts too (``dataclasses.asdict``)."""

    def conv(v: Any) -> Any:
        if hasattr(type(v), "__record_fields__"):
            return {n: conv(getattr(v, n)) for n in v.__record_fields__}
        if isinstance(v, (list, tuple)):
            return type(v)(conv(x) for x in v)
        if isinstance(v, dict):
            return {conv(k): conv(x) for k, x in v.items()}
        return v

    return conv(obj)  # type: ignore[no-any-return]
