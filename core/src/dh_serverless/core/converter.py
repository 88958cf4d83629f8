"""The one cattrs converter of dh-serverless, and its readable errors.

Keys match ignoring case, ``_`` and ``-`` (``maxWorkers``, ``max_workers``, ``MaxWorkers``);
an unknown key is an error naming the nearest valid key, or where the key belongs; scalar
types are strict (a quoted number is not a number) and a lone string is never a list.
Every failure becomes one line per problem with the full key path.
"""

from __future__ import annotations

from collections import abc
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory, mapping_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from dh_serverless.core.durations import parse_go_duration
from dh_serverless.core.errors import ConfigError

__all__ = (
    "CONVERTER",
    "Duration",
    "StrictDuration",
    "display_key",
    "key_policy",
    "make_converter",
    "normalize_key",
    "structure",
)

T = TypeVar("T")


class Duration(float):
    """Seconds, written in YAML as a Go duration (``"30s"``) or, where allowed, a number."""


class StrictDuration(Duration):
    """Seconds, written only as a Go duration, as Nuclio's ``eventTimeout`` requires."""


def normalize_key(key: str) -> str:
    """The form two keys are compared in: lower case without ``_`` and ``-``."""
    return key.replace("_", "").replace("-", "").lower()


def display_key(name: str) -> str:
    """``max_workers`` -> ``maxWorkers``: field names as Nuclio's documentation spells them."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


#: per attrs class: normalized keys accepted and ignored, and hints for misplaced keys.
_IGNORED: dict[type, frozenset[str]] = {}
_MISPLACED: dict[type, dict[str, str]] = {}


def key_policy(
    cls: type, *, ignored: frozenset[str] = frozenset(), misplaced: dict[str, str] | None = None
) -> None:
    """Accept (and ignore) the ``ignored`` keys of ``cls``; explain ``misplaced`` ones.

    :param ignored: normalized keys (see :func:`normalize_key`) that load and do nothing.
    :param misplaced: normalized key -> where it belongs, for a key written at this level.
    """
    _IGNORED[cls] = ignored
    _MISPLACED[cls] = misplaced or {}


class UnknownKeyError(Exception):
    """A key that matches no field, with the nearest valid key or where it belongs."""

    def __init__(self, key: str, hint: str) -> None:
        self.key = key
        super().__init__(hint)


def _attrs_structure_factory(converter: cattrs.Converter) -> Any:
    def factory(cls: type) -> Any:
        if get_origin(cls) is not None:  # a generic attrs class: cattrs's generated function
            inner: Any = make_dict_structure_fn(cls, converter, _cattrs_detailed_validation=True)
            return _with_keys(cls, inner)
        return _with_keys(cls, _interpreted_attrs_structure(cls, converter))

    return factory


def _interpreted_attrs_structure(cls: type, converter: cattrs.Converter) -> Any:
    """What ``make_dict_structure_fn`` generates with detailed validation, without
    generating and compiling a function per class: a function's configuration is structured
    once, where the compile (about 1 ms a class) costs more than the whole structuring."""
    if any(isinstance(f.type, str) for f in attrs.fields(cls)):
        attrs.resolve_types(cls)
    plan = [
        (f.alias or f.name, f.type, f.default is attrs.NOTHING) for f in attrs.fields(cls) if f.init
    ]
    hooks: dict[str, Any] = {}
    name = cls.__name__

    def structure_fields(data: dict[str, Any], _: type) -> Any:
        res: dict[str, Any] = {}
        errors: list[Exception] = []
        for key, t, required in plan:
            if key in data:
                try:
                    hook = hooks.get(key)
                    if hook is None:
                        hook = hooks[key] = (
                            _identity if t is None else converter.get_structure_hook(t)
                        )
                    res[key] = hook(data[key], t)
                except Exception as exc:  # noqa: BLE001 - collected, as cattrs does
                    _note(exc, AttributeValidationNote(_at(name, key), key, t))
                    errors.append(exc)
            elif required:
                missing = KeyError(key)
                _note(missing, AttributeValidationNote(_at(name, key), key, t))
                errors.append(missing)
        if errors:
            raise ClassValidationError(f"While structuring {name}", errors, cls)
        try:
            return cls(**res)
        except Exception as exc:  # noqa: BLE001 - an attrs validator's error, as cattrs words it
            raise ClassValidationError(f"While structuring {name}", [exc], cls) from None

    return structure_fields


def _identity(value: Any, _: Any) -> Any:
    return value


def _at(cls_name: str, key: str) -> str:
    return f"Structuring class {cls_name} @ attribute {key}"


def _note(exc: BaseException, note: Any) -> None:
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]


def _with_keys(cls: type, inner: Any) -> Any:
    """Match keys ignoring case and underscores; name unknown keys with a hint."""
    fields = {normalize_key(f.alias or f.name): f.alias or f.name for f in attrs.fields(cls)}
    ignored = _IGNORED.get(cls, frozenset())
    misplaced = _MISPLACED.get(cls, {})

    def structure_attrs(data: Any, _: type) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a mapping of keys, got {_describe(data)}")
        renamed: dict[str, Any] = {}
        unknown: list[Exception] = []
        for key, value in data.items():
            norm = normalize_key(str(key))
            if norm in fields:
                renamed[fields[norm]] = value
            elif norm not in ignored:
                unknown.append(UnknownKeyError(str(key), _unknown_hint(norm, fields, misplaced)))
        errors = list(unknown)
        try:
            result = inner(renamed, cls)
        except ClassValidationError as exc:
            errors.extend(exc.exceptions)
        if errors:
            raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
        return result

    return structure_attrs


def _mapping_factory(cl: Any, converter: cattrs.Converter) -> Any:
    """``dict[K, V]``, as cattrs's generated mapping function with detailed validation does,
    interpreted (see :func:`_interpreted_attrs_structure`)."""
    args = get_args(cl)
    if len(args) != 2 or all(a is Any for a in args):
        return mapping_structure_factory(cl, converter)
    key_type, val_type = args
    key_hook = converter.get_structure_hook(key_type)
    val_hook = converter.get_structure_hook(val_type)

    def structure_mapping(mapping: Any, _: Any) -> dict[Any, Any]:
        res = {}
        errors: list[Exception] = []
        for k, v in mapping.items():
            try:
                value = val_hook(v, val_type)
            except Exception as exc:  # noqa: BLE001 - collected, as cattrs does
                _note(
                    exc,
                    IterableValidationNote(f"Structuring mapping value @ key {k!r}", k, val_type),
                )
                errors.append(exc)
                continue
            try:
                res[key_hook(k, key_type)] = value
            except Exception as exc:  # noqa: BLE001
                _note(
                    exc, IterableValidationNote(f"Structuring mapping key @ key {k!r}", k, key_type)
                )
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {cl!r}", errors, dict)
        return res

    return structure_mapping


def _unknown_hint(norm: str, fields: dict[str, str], misplaced: dict[str, str]) -> str:
    if norm in misplaced:
        return f"unknown key here: {misplaced[norm]}"
    import difflib  # only on an error: a job's start spares the import

    close = difflib.get_close_matches(norm, list(fields), n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean '{display_key(fields[close[0]])}'?"
    valid = ", ".join(sorted(display_key(v) for v in fields.values()))
    return f"unknown key; valid keys here: {valid}"


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing (null)"


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a whole number, got {_describe(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise TypeError(f"expected a whole number, got {value!r}")
    return int(value)


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {_describe(value)}")
    return float(value)


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {_describe(value)}")
    return value


def _lenient_str(value: Any, _: type) -> str:
    # Nuclio turns unquoted scalars into strings where a string is expected (`l3: 100`).
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected text, got {_describe(value)}")


def _duration(value: Any, cls: type[Duration]) -> Duration | None:
    if cls is StrictDuration and isinstance(value, str):
        # Nuclio's eventTimeout: empty means no timeout; otherwise it must be above zero.
        if not value.strip():
            return None
        seconds = parse_go_duration(value)
        if seconds <= 0:
            raise ValueError(f"duration {value!r} must be greater than 0 (or omitted)")
        return cls(seconds)
    if isinstance(value, str):
        return cls(parse_go_duration(value))
    if (
        cls is not StrictDuration
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return cls(value)
    raise TypeError(f"expected a Go duration such as '30s' or '500ms', got {_describe(value)}")


def _collection_factory(make: Any, expected: type, empty: type, what: str) -> Any:
    # YAML ``attributes:`` with every child commented out is null: Nuclio reads it as
    # empty. Anything else that is not a mapping (or list) gets a readable message.
    def factory(cl: type, converter: cattrs.Converter) -> Any:
        inner = make(cl, converter)

        def structure_collection(data: Any, t: type) -> Any:
            if data is None:
                data = empty()
            elif not isinstance(data, expected) or isinstance(data, (str, bytes)):
                raise TypeError(f"expected {what}, got {_describe(data)}")
            return inner(data, t)

        return structure_collection

    return factory


def _is_tuple_or_set(t: Any) -> bool:
    origin = get_origin(t)
    if origin in (set, frozenset, abc.Set):
        return True
    args = get_args(t)
    return origin is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_or_set_factory(t: Any, converter: cattrs.Converter) -> Any:
    # Through list[T], so that a lone string is an error and not a tuple of characters.
    origin = get_origin(t)
    as_list: Any = list[get_args(t)[0]]  # type: ignore[misc]
    build = tuple if origin is tuple else (frozenset if origin is frozenset else set)

    def structure_tuple_or_set(data: Any, _: type) -> Any:
        return build(converter.structure(data, as_list))

    return structure_tuple_or_set


def make_converter() -> cattrs.Converter:
    """Build a converter with dh-serverless's key and type policies (the core builds one)."""
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(str, _lenient_str)
    converter.register_structure_hook(Duration, _duration)
    converter.register_structure_hook(StrictDuration, _duration)
    converter.register_structure_hook_factory(
        lambda t: get_origin(t) is dict,  # type: ignore[comparison-overlap]
        _collection_factory(_mapping_factory, Mapping, dict, "a mapping of keys"),
    )
    converter.register_structure_hook_factory(
        lambda t: get_origin(t) is list,  # type: ignore[comparison-overlap]
        _collection_factory(list_structure_factory, list, list, "a list"),
    )
    converter.register_structure_hook_factory(_is_tuple_or_set, _tuple_or_set_factory)
    converter.register_structure_hook_factory(attrs.has, _attrs_structure_factory(converter))
    return converter


#: The one converter: plugins extend it through the ``dh_register_converters`` hook.
CONVERTER = make_converter()


# ---------------------------------------------------------------------------
# Structuring with readable errors
# ---------------------------------------------------------------------------


def structure(data: Any, cls: type[T], *, source: str, path: tuple[str, ...] = ()) -> T:
    """Structure ``data`` into ``cls`` or raise :class:`ConfigError` naming every problem.

    :param source: the file the data came from, for the message.
    :param path: the key path of ``data`` in that file (``("spec", "triggers", "web")``).
    """
    try:
        return CONVERTER.structure({} if data is None else data, cls)
    except Exception as exc:
        raise ConfigError(source, list(_problems(exc, list(path)))) from exc


def _problems(exc: BaseException, path: list[str]) -> Iterator[str]:
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                step = display_key(note.name)
            elif isinstance(note, IterableValidationNote):
                step = str(note.index)
            else:  # a note kind cattrs may add in the future
                step = str(note)  # type: ignore[unreachable]
            yield from _problems(sub, [*path, step])
        for sub in without:
            yield from _problems(sub, path)
        return
    where = ".".join(path) or "(top level)"
    if isinstance(exc, UnknownKeyError):
        yield f"{'.'.join([*path, exc.key])}: {exc}"
    elif isinstance(exc, KeyError):
        yield f"{where}: required key missing"
    elif isinstance(exc, ForbiddenExtraKeysError):
        yield f"{where}: unknown keys {sorted(exc.extra_fields)}"
    elif isinstance(exc, ValueError) and "not in literal" in str(exc).lower():
        yield f"{where}: {exc}"
    else:
        yield f"{where}: {exc}"
