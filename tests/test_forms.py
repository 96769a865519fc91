"""Forms generated from dataclass fields (core.dashboard.forms)."""

from __future__ import annotations

import dataclasses

import pytest

from core.analytics.drift import DriftThresholds
from core.dashboard.forms import NumberField, field_label, from_form, number_fields
from core.errors import ConfigError


def test_drift_thresholds_get_one_field_each_with_its_default_and_docstring_help():
    specs = number_fields(DriftThresholds)
    assert [s.name for s in specs] == [f.name for f in dataclasses.fields(DriftThresholds)]
    defaults = DriftThresholds()
    for spec in specs:
        assert spec.default == getattr(defaults, spec.name)
        assert type(spec.default) is type(spec.step) is type(spec.min_value)
        assert spec.help, f"{spec.name} has no description in DriftThresholds' docstring"
    by_name = {s.name: s for s in specs}
    assert by_name["psi_warning"].label == "PSI warning"
    assert by_name["ks_p_critical"].label == "KS p-value critical"
    critical = by_name["ks_p_critical"]
    assert critical.max_value == 1.0
    assert float(critical.format % defaults.ks_p_critical) == defaults.ks_p_critical  # 5e-6 shows
    assert by_name["psi_critical"].max_value is None
    assert by_name["psi_warning"].help.startswith("PSI levels")
    detector = by_name["detector_critical"]
    assert (detector.default, detector.min_value, detector.step, detector.format) == (2, 0, 1, None)


def test_the_defaults_of_the_form_build_the_default_thresholds():
    values = {s.name: s.default for s in number_fields(DriftThresholds)}
    assert from_form(DriftThresholds, values) == DriftThresholds()


def test_a_field_added_to_the_dataclass_is_in_the_next_form():
    extended = dataclasses.make_dataclass(
        "Extended",
        [("new_p_warning", float, dataclasses.field(default=0.05))],
        bases=(DriftThresholds,),
        frozen=True,
    )
    specs = number_fields(extended)
    assert len(specs) == len(dataclasses.fields(DriftThresholds)) + 1
    assert specs[-1] == NumberField(
        name="new_p_warning", label="New p-value warning", default=0.05, min_value=0.0,
        max_value=1.0, step=0.001, format="%.4f", help=None,
    )  # fmt: skip
    assert from_form(extended, {"new_p_warning": 0.2}).new_p_warning == 0.2


def test_field_metadata_overrides_what_is_derived():
    @dataclasses.dataclass(frozen=True)
    class Settings:
        """Settings.

        Attributes
        ----------
        level : float
            From the docstring.
        """

        level: float = dataclasses.field(
            default=0.5,
            metadata={"label": "Level (%)", "min": 0.1, "max": 2, "step": 0.05, "format": "%.2f",
                      "help": "From metadata."},
        )  # fmt: skip
        count: int = 3

    level, count = number_fields(Settings)
    assert level == NumberField("level", "Level (%)", 0.5, 0.1, 2.0, 0.05, "%.2f", "From metadata.")
    assert isinstance(level.max_value, float)  # one numeric type per input
    assert count == NumberField("count", "Count", 3, 0, None, 1, None, None)
    assert level.number_input_kwargs() == {
        "label": "Level (%)", "min_value": 0.1, "max_value": 2.0, "value": 0.5, "step": 0.05,
        "format": "%.2f", "help": "From metadata.",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "label"),
    [("psi_warning", "PSI warning"), ("brier_max_p", "Brier max p-value"),
     ("ece_critical", "ECE critical"), ("win_rate_min_drop", "Win rate min drop"),
     ("ks_p_warning", "KS p-value warning")],
)  # fmt: skip
def test_field_label(name, label):
    assert field_label(name) == label


@dataclasses.dataclass(frozen=True)
class _NoDefault:
    x: float


@dataclasses.dataclass(frozen=True)
class _Text:
    x: str = "a"


@dataclasses.dataclass(frozen=True)
class _Flag:
    x: bool = True


@dataclasses.dataclass(frozen=True)
class _BadMeta:
    x: float = dataclasses.field(default=1.0, metadata={"maximum": 2})


@pytest.mark.parametrize(
    ("cls", "match"),
    [
        (_NoDefault, r"_NoDefault\.x has no default; .*give the field a default"),
        (_Text, r"_Text\.x defaults to 'a'; a number form takes int or float fields only"),
        (_Flag, r"_Flag\.x defaults to True; a number form takes int or float"),
        (_BadMeta, r"_BadMeta\.x has unknown form metadata 'maximum'; use label, min, max"),
        (dict, r"number_fields needs a dataclass type, got <class 'dict'>"),
    ],
)
def test_number_fields_errors(cls, match):
    with pytest.raises(ConfigError, match=match):
        number_fields(cls)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"psi_warnin": 0.1}, r"DriftThresholds has no field 'psi_warnin'; fields: psi_warning"),
        (
            {"detector_warning": 1.5},
            r"detector_warning must be a whole number, got 1\.5; enter e\.g\. 1",
        ),
        ({"psi_warning": 0.5}, r"0 < psi_warning <= psi_critical"),  # the dataclass's own check
    ],
)
def test_from_form_errors(values, match):
    with pytest.raises(ConfigError, match=match):
        from_form(DriftThresholds, values)


def test_from_form_takes_integral_floats_for_int_fields():
    thresholds = from_form(DriftThresholds, {"detector_critical": 3.0})
    assert thresholds.detector_critical == 3 and isinstance(thresholds.detector_critical, int)
