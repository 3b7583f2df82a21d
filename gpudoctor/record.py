"""Record classes: what `@dataclasses.dataclass` gives gpudoctor, without its start-up cost.

`gpudoctor --json` is run by scripts and fleets on every node, so its start-up counts
(bench/README.md). On Python 3.10-3.12, `dataclass()` compiles and executes `__init__`,
`__repr__` and `__eq__` (and, when frozen, `__setattr__`, `__delattr__` and `__hash__`) for
every class the moment its module is imported: about 0.33 ms a class, 18 ms of the 56 classes
one run defines, a quarter of the run. Importing `dataclasses` also imports `inspect` (with
`ast`, `dis` and `tokenize`), another 5-8 ms. A `record` costs about 10 µs to define. Its first
instances are made by a shared `__init__` that binds arguments by name; a class that goes on
to make many compiles its own, as `dataclass()` does, so the classes a run barely uses never
pay for compiling. `__repr__`, `__eq__` and `__hash__` are shared functions that read the
field names.

Type checkers see records as dataclasses (PEP 681 `dataclass_transform`). What gpudoctor uses
behaves as `dataclass()` does, and tests/test_record.py compares the two on each point: fields
in annotation order, defaults and `field(default_factory=...)`, positional or keyword
arguments, `__post_init__`, equality by value between instances of one class, repr, frozen
records (assigning raises `FrozenInstanceError`; hashed by value), unhashable mutable records,
`__match_args__` and `replace()`. Not supported, because nothing here needs it: fields
inherited from a base record, `InitVar`, `kw_only`, `order`, `slots`. `record` refuses these
loudly rather than behave differently from `dataclass()`.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, overload

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:
    def dataclass_transform(**_options: object) -> object:
        """Read by type checkers only; at run time the function is left as it is."""
        return lambda function: function


#: The class attribute holding a record's field names, in order.
FIELDS = "__record_fields__"


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen record."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Any = _Missing()


class _Factory:
    """What `field(default_factory=...)` leaves in the class body until `record` reads it."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]):
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made afresh for each instance (a list, a dict)."""
    return _Factory(default_factory)  # type: ignore[return-value]


if TYPE_CHECKING:
    @overload
    def record(cls: type[T], /) -> type[T]: ...

    @overload
    def record(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """Make `cls` a record: `@record` or `@record(frozen=True)`, as with `@dataclass`."""
    def make(target: type[T]) -> type[T]:
        return _make(target, frozen)

    return make if cls is None else make(cls)


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a record class or instance, in order."""
    names = getattr(obj, FIELDS, None)
    if names is None:
        raise TypeError(f"{obj!r} is not a record")
    return names


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record `obj` with `changes` applied (`dataclasses.replace`)."""
    values = {name: getattr(obj, name) for name in fields(obj)}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(obj)(**values)


def _own_annotations(cls: type) -> dict[str, object]:
    """The annotations written in the class body itself, not its bases'. Not
    inspect.get_annotations: importing inspect is the cost this module avoids."""
    own = cls.__dict__
    if "__annotations__" in own:
        return own["__annotations__"]
    if "__annotate__" in own:  # Python 3.14: computed on first access
        return dict(cls.__annotations__)
    return {}


def _is_class_var(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _make(cls: type[T], frozen: bool) -> type[T]:
    for base in cls.__mro__[1:]:
        if FIELDS in base.__dict__:
            raise TypeError(f"{cls.__qualname__}: a record cannot inherit fields from "
                            f"{base.__qualname__} (not supported)")
    names: list[str] = []
    defaults: dict[str, object] = {}
    factories: dict[str, Callable[[], object]] = {}
    for name, annotation in _own_annotations(cls).items():
        if _is_class_var(annotation):
            continue
        names.append(name)
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Factory):
            factories[name] = value.make
            delattr(cls, name)
        elif value is not _MISSING:
            if type(value) in (list, dict, set):
                raise ValueError(f"{cls.__qualname__}.{name}: mutable default "
                                 f"{type(value).__name__}; use field(default_factory=...)")
            defaults[name] = value
        elif defaults or factories:
            raise TypeError(f"{cls.__qualname__}: non-default argument {name!r} follows "
                            "default argument")
    field_names = tuple(names)
    own = cls.__dict__
    methods: dict[str, object] = {
        FIELDS: field_names, "__match_args__": field_names,
        "__init__": _first_init(cls, field_names, defaults, factories, frozen)}
    if "__repr__" not in own:
        methods["__repr__"] = _repr
    if "__eq__" not in own:
        methods["__eq__"] = _eq
    if frozen:
        methods.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr, __hash__=_hash)
    elif own.get("__hash__") is None:
        methods["__hash__"] = None  # mutable and compared by value: unhashable, as dataclass()
    for name, value in methods.items():
        setattr(cls, name, value)
    return cls


#: Instances a record class makes with the shared `__init__` before it compiles its own.
COMPILE_AFTER = 16


def _first_init(cls: type, names: tuple[str, ...], defaults: dict[str, object],
                factories: dict[str, Callable[[], object]], frozen: bool) -> Callable[..., None]:
    """A shared `__init__` that binds arguments by name. Compiling a class's own (what
    `dataclass()` does for every class) costs about 0.13 ms; the shared one costs a few µs a
    call more, so a class compiles its own only once it has made COMPILE_AFTER instances."""
    setter = object.__setattr__
    position = {name: i for i, name in enumerate(names)}
    required = tuple(name for name in names if name not in defaults and name not in factories)
    post_init = hasattr(cls, "__post_init__")
    made = 0

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        nonlocal made
        made += 1
        if made >= COMPILE_AFTER:
            real = _compile_init(cls, names, defaults, factories, frozen)
            cls.__init__ = real  # type: ignore[misc]
            real(self, *args, **kwargs)
            return
        values = _bind(cls, names, position, required, args, kwargs)
        for name in names:
            value = values.get(name, _MISSING)
            if value is _MISSING:
                value = defaults[name] if name in defaults else factories[name]()
            setter(self, name, value)
        if post_init:
            self.__post_init__()  # type: ignore[attr-defined]

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _bind(cls: type, names: tuple[str, ...], position: dict[str, int],
          required: tuple[str, ...], args: tuple[object, ...],
          kwargs: dict[str, object]) -> dict[str, object]:
    """Arguments by field name, with the TypeErrors a compiled `__init__` would raise."""
    where = f"{cls.__qualname__}.__init__()"
    if len(args) > len(names):
        raise TypeError(f"{where} takes {len(names) + 1} positional arguments but "
                        f"{len(args) + 1} were given")
    values = dict(zip(names, args, strict=False))  # args may be fewer than the fields
    for name, value in kwargs.items():
        index = position.get(name)
        if index is None:
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
        if index < len(args):
            raise TypeError(f"{where} got multiple values for argument {name!r}")
        values[name] = value
    missing = [name for name in required if name not in values]
    if missing:
        raise TypeError(f"{where} missing {len(missing)} required argument(s): "
                        + ", ".join(repr(name) for name in missing))
    return values


def _compile_init(cls: type, names: tuple[str, ...], defaults: dict[str, object],
                  factories: dict[str, Callable[[], object]],
                  frozen: bool) -> Callable[..., None]:
    scope: dict[str, object] = {"__MISSING": _MISSING, "__set": object.__setattr__}
    params, lines = [], []
    for name in names:
        value = name
        if name in factories:
            scope[f"__make_{name}"] = factories[name]
            params.append(f"{name}=__MISSING")
            value = f"__make_{name}() if {name} is __MISSING else {name}"
        elif name in defaults:
            scope[f"__default_{name}"] = defaults[name]
            params.append(f"{name}=__default_{name}")
        else:
            params.append(name)
        lines.append(f"__set(__self, {name!r}, {value})" if frozen
                     else f"__self.{name} = {value}")
    if hasattr(cls, "__post_init__"):
        lines.append("__self.__post_init__()")
    source = (f"def __init__(__self, {', '.join(params)}):\n"
              + "".join(f"    {line}\n" for line in lines or ["pass"]))
    exec(source, scope)
    init: Callable[..., None] = scope["__init__"]  # type: ignore[assignment]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _values(obj: object) -> tuple[object, ...]:
    return tuple([getattr(obj, name) for name in getattr(obj, FIELDS)])


def _repr(self: object) -> str:
    body = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(self, FIELDS))
    return f"{type(self).__qualname__}({body})"


def _eq(self: object, other: object) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: object) -> int:
    return hash(_values(self))


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")
