"""Forms generated from a dataclass's fields: one number input per field.

A page that edits a settings dataclass (the Drift page's
:class:`~core.analytics.drift.DriftThresholds`) asks :func:`number_fields` for
the inputs and :func:`from_form` for the instance, so a field added to the
dataclass appears in the form without touching the page. Nothing here imports
Streamlit: a :class:`NumberField` says what an input needs (label, default,
bounds, step, format, help) and :meth:`NumberField.number_input_kwargs` spells it
the way ``st.number_input`` takes it.

Where a field's settings come from, first match wins:

1. the field's ``metadata`` (``dataclasses.field(metadata={...})``), keys
   :data:`FIELD_METADATA_KEYS`;
2. conventions of its name and default: the label from the name
   (``ks_p_warning`` -> "KS p-value warning"), the help from the class
   docstring's numpydoc ``Attributes`` section, and for numbers without
   metadata a minimum of 0 (settings here are levels and counts), a maximum
   of 1 for p-values (a ``p`` part in the name), a step a tenth of the
   default's order of magnitude for floats and 1 for ints.

Validation is not repeated here: the dataclass checks its own values
(``__post_init__``) and :func:`from_form` lets its error through.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from core.errors import ConfigError

__all__ = ["FIELD_METADATA_KEYS", "NumberField", "field_label", "from_form", "number_fields"]

T = TypeVar("T")

#: Keys of a field's ``metadata`` that override what is derived.
FIELD_METADATA_KEYS: tuple[str, ...] = ("label", "min", "max", "step", "format", "help")

#: How parts of a field name read in a label.
_WORDS: dict[str, str] = {"psi": "PSI", "ks": "KS", "ece": "ECE", "p": "p-value", "pct": "%"}


@dataclasses.dataclass(frozen=True)
class NumberField:
    """One number input of a generated form.

    Attributes
    ----------
    name : str
        The dataclass field.
    label : str
        What the input is called on screen.
    default : int or float
        The field's default; the input's initial value.
    min_value, max_value : int or float or None
        Bounds of the input (None: unbounded). Of the same type as ``default``.
    step : int or float
        Increment of the input's +/- buttons.
    format : str or None
        printf-style display format (None for ints).
    help : str or None
        Tooltip: the field's description in the class docstring.
    """

    name: str
    label: str
    default: int | float
    min_value: int | float | None
    max_value: int | float | None
    step: int | float
    format: str | None
    help: str | None

    def number_input_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``st.number_input`` (all but ``key``)."""
        return {
            "label": self.label,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "value": self.default,
            "step": self.step,
            "format": self.format,
            "help": self.help,
        }


def field_label(name: str) -> str:
    """A field name as a label: ``"ks_p_warning"`` -> ``"KS p-value warning"``."""
    words = [_WORDS.get(part, part) for part in name.split("_") if part]
    if words and words[0] == words[0].lower():
        words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def _attribute_docs(cls: type) -> dict[str, str]:
    """Field -> description, from the numpydoc ``Attributes`` section of ``cls``'s docstring."""
    lines = (inspect.getdoc(cls) or "").splitlines()
    out: dict[str, str] = {}
    try:
        start = next(
            i + 2
            for i, line in enumerate(lines[:-1])
            if line.strip() == "Attributes" and set(lines[i + 1].strip()) == {"-"}
        )
    except StopIteration:
        return out
    names: list[str] = []
    text: list[str] = []

    def flush() -> None:
        description = " ".join(text).strip()
        for n in names:
            if description:
                out[n] = description

    for i in range(start, len(lines)):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and set(lines[i + 1].strip()) == {"-"}:
            break  # the next section
        if line and not line[0].isspace():
            flush()
            head = line.split(":", 1)[0]
            names, text = [n.strip() for n in head.split(",") if n.strip()], []
        elif line.strip():
            text.append(line.strip())
    flush()
    return out


def _float_step(default: float) -> float:
    """A tenth of the order of magnitude of ``default`` (0.01 for 0)."""
    if default == 0:
        return 0.01
    return 10.0 ** (math.floor(math.log10(abs(default))) - 1)


def _number_field(f: dataclasses.Field[Any], help_text: str | None, owner: str) -> NumberField:
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        raise ConfigError(
            f"{owner}.{f.name} has no default; a generated form needs one to start from "
            "(give the field a default)"
        )
    if isinstance(default, bool) or not isinstance(default, int | float):
        raise ConfigError(
            f"{owner}.{f.name} defaults to {default!r}; a number form takes int or float "
            "fields only (leave it out of the form, or make it a number)"
        )
    meta = dict(f.metadata)
    unknown = sorted(str(k) for k in set(meta) - set(FIELD_METADATA_KEYS))
    if unknown:
        raise ConfigError(
            f"{owner}.{f.name} has unknown form metadata {', '.join(map(repr, unknown))}; "
            f"use {', '.join(FIELD_METADATA_KEYS)}"
        )
    kind = int if isinstance(default, int) else float
    is_p = "p" in f.name.split("_")
    if kind is int:
        min_value: int | float | None = 0
        max_value: int | float | None = None
        step: int | float = 1
        fmt: str | None = None
    else:
        min_value, max_value = 0.0, (1.0 if is_p else None)
        step = _float_step(float(default))
        # p-values are read to four places (the defaults go down to 0.001)
        fmt = f"%.{max(4 if is_p else 2, -math.floor(math.log10(step)))}f"
    min_value = meta.get("min", min_value)
    max_value = meta.get("max", max_value)
    step = meta.get("step", step)

    def cast(v: Any) -> int | float | None:
        # one numeric type for every number, as a number input requires
        return None if v is None else kind(v)

    return NumberField(
        name=f.name,
        label=str(meta.get("label", field_label(f.name))),
        default=kind(default),
        min_value=cast(min_value),
        max_value=cast(max_value),
        step=kind(step),
        format=meta.get("format", fmt),
        help=meta.get("help", help_text),
    )


def number_fields(cls: type) -> tuple[NumberField, ...]:
    """One :class:`NumberField` per field of the dataclass ``cls``, in field order.

    Read afresh on every call, so a field added to ``cls`` is in the next form.

    Parameters
    ----------
    cls : dataclass type
        Every field must have an int or float default (``bool`` is not a number here).

    Returns
    -------
    tuple of NumberField

    Raises
    ------
    ConfigError
        ``cls`` is not a dataclass, a field has no default, a non-number default or
        unknown metadata; the message names the field.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ConfigError(f"number_fields needs a dataclass type, got {cls!r}")
    docs = _attribute_docs(cls)
    return tuple(
        _number_field(f, docs.get(f.name), cls.__name__) for f in dataclasses.fields(cls) if f.init
    )


def from_form(cls: type[T], values: Mapping[str, Any]) -> T:
    """An instance of ``cls`` from a form's values (field name -> number).

    Fields the form left out keep their defaults; int fields take integral
    floats (a number input may return ``3.0``). The instance's own validation
    runs as usual.

    Raises
    ------
    ConfigError
        A name that is not a field, a non-integral value for an int field, or the
        dataclass's own check failing (its message, e.g. ``DriftThresholds needs
        0 < psi_warning <= psi_critical``).
    """
    specs = {f.name: f for f in number_fields(cls)}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ConfigError(
            f"{cls.__name__} has no field {', '.join(map(repr, unknown))}; "
            f"fields: {', '.join(specs)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(specs[name].default, int):
            if not (isinstance(value, int | float) and float(value).is_integer()):
                raise ConfigError(
                    f"{cls.__name__}.{name} must be a whole number, got {value!r}; "
                    f"enter e.g. {specs[name].default}"
                )
            value = int(value)
        kwargs[name] = value
    return cls(**kwargs)
