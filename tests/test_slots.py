"""Ordered label slots (age groups, mood): declared order and values, ordinal / interval alpha, corpus.yaml."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import voxpop.cli
from voxpop.agreement import reliability, tables
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import Corpus, CorpusError
from voxpop.corpus.merge import MergeSource, merge_corpora
from voxpop.corpus.slots import LabelOrder

AGE_ORDER = ("teens", "20s", "30s", "40s", "50s", "60s", "70s", "80s")
# 3 raters x 7 clips of age groups; teens and 20s are neighbours, not the two ends of the scale
AGE = [
    ["teens", "20s", "40s", "60s", "teens", "80s", "30s"],
    ["teens", "20s", "50s", "60s", "20s", "70s", "30s"],
    ["20s", "30s", "40s", "70s", "teens", "80s", None],
]
MOOD_ORDER = ("Awful", "Bad", "Meh", "Good", "Great")
MOOD_VALUES = {"Awful": -2.0, "Bad": -1.0, "Meh": 0.0, "Good": 1.0, "Great": 3.0}
MOOD = [
    ["Awful", "Meh", "Good", "Great", "Bad", "Meh"],
    ["Bad", "Meh", "Good", "Good", "Bad", "Good"],
    ["Awful", "Bad", "Great", "Great", None, "Meh"],
]


def _corpus(slots: dict | None = None) -> Corpus:
    rows = [
        {"item": f"c{i}", "rater": f"r{r}", "slot": slot, "label": label}
        for slot, table in (("age", AGE), ("mood", MOOD))
        for r, row in enumerate(table)
        for i, label in enumerate(row)
        if label is not None
    ]
    items = pd.DataFrame(index=pd.Index([f"c{i}" for i in range(7)], name="item"))
    return Corpus("ages", items, pd.DataFrame(rows), classes=["neutral"], slots=slots)


def _codes(table: list[list], order) -> np.ndarray:
    """The reliability matrix (raters x items) with each label replaced by its position in ``order``."""
    return np.array([[np.nan if x is None else float(list(order).index(x)) for x in row] for row in table])


def _alpha(frame: pd.DataFrame) -> float:
    return float(frame.loc[frame["statistic"].eq("alpha"), "value"].iloc[0])


def test_ordinal_alpha_on_age_groups_uses_the_declared_order():
    corpus = _corpus({"age": LabelOrder(AGE_ORDER)})
    got = _alpha(tables.agreement_table(corpus, slot="age", level="ordinal"))
    domain = list(range(len(AGE_ORDER)))
    expected = krippendorff.alpha(_codes(AGE, AGE_ORDER), value_domain=domain, level_of_measurement="ordinal")
    assert got == pytest.approx(expected, rel=1e-12)
    # the alphabetical order (20s ... 80s, teens) puts teens at the top: a different, wrong alpha
    alphabetical = sorted(AGE_ORDER)
    assert alphabetical[-1] == "teens"
    wrong = krippendorff.alpha(_codes(AGE, alphabetical), value_domain=domain, level_of_measurement="ordinal")
    assert abs(got - wrong) > 0.1
    # the order given for one call replaces the declared one
    reversed_order = tables.agreement_table(corpus, slot="age", level="ordinal", order=alphabetical)
    assert _alpha(reversed_order) == pytest.approx(wrong, rel=1e-12)


def test_interval_alpha_on_mood_uses_the_declared_values():
    # ratio alpha needs a true zero: the same order numbered from 0 up (MOOD_VALUES has negative numbers)
    from_zero = {label: value - min(MOOD_VALUES.values()) for label, value in MOOD_VALUES.items()}
    for level, declared in (("interval", MOOD_VALUES), ("ratio", from_zero)):
        corpus = _corpus({"mood": LabelOrder(MOOD_ORDER, declared)})
        numbers = [[np.nan if x is None else declared[x] for x in row] for row in MOOD]
        got = _alpha(tables.agreement_table(corpus, slot="mood", level=level))
        assert got == pytest.approx(krippendorff.alpha(numbers, level_of_measurement=level), rel=1e-12)
    # values given for one call (also giving the order) on a corpus that declares none
    plain = _corpus()
    positions = {label: float(i) for i, label in enumerate(MOOD_ORDER)}
    got = _alpha(tables.agreement_table(plain, slot="mood", level="interval", values=positions))
    assert got == pytest.approx(krippendorff.alpha(_codes(MOOD, MOOD_ORDER), level_of_measurement="interval"))
    # nominal alpha ignores the order; Fleiss' kappa stays nominal next to ordinal alpha
    nominal = tables.agreement_table(corpus, slot="mood")
    expected = krippendorff.alpha(_codes(MOOD, MOOD_ORDER), level_of_measurement="nominal")
    assert _alpha(nominal) == pytest.approx(expected)
    ordinal = tables.agreement_table(corpus, slot="mood", level="ordinal")
    assert ordinal["level"].tolist() == ["ordinal", "nominal"] and ordinal["statistic"].tolist()[1] == "fleiss_kappa"


def test_ordered_levels_without_an_order_are_refused():
    corpus = _corpus()
    for level in ("ordinal", "interval", "ratio"):
        with pytest.raises(ConfigError, match=rf"{level} alpha on slot 'age' needs the order .*Pass --order"):
            tables.agreement_table(corpus, slot="age", level=level)
    ordered = _corpus({"age": LabelOrder(AGE_ORDER)})
    with pytest.raises(ConfigError, match=r"interval alpha on slot 'age' needs a number per label; pass --values"):
        tables.agreement_table(ordered, slot="age", level="interval")
    with pytest.raises(ConfigError, match=r"rated labels \['80s', '70s'\] are not in the declared order"):
        tables.agreement_table(corpus, slot="age", level="ordinal", order=AGE_ORDER[:6])
    with pytest.raises(ConfigError, match=r"--order / --values: labels listed more than once in the order: \['20s'\]"):
        tables.agreement_table(corpus, slot="age", level="ordinal", order=[*AGE_ORDER, "20s"])
    with pytest.raises(ConfigError, match=r"values must increase along the order, but Meh = 0 >= Good = 0"):
        tables.agreement_table(
            corpus, slot="mood", level="interval", order=MOOD_ORDER, values={**MOOD_VALUES, "Good": 0}
        )


def test_slots_round_trip_and_old_corpus_folders_load(tmp_path):
    slots = {"age": LabelOrder(AGE_ORDER), "mood": LabelOrder(MOOD_ORDER, MOOD_VALUES)}
    _corpus(slots).save(tmp_path / "c")
    meta = yaml.safe_load((tmp_path / "c" / "corpus.yaml").read_text())
    mood = {"order": list(MOOD_ORDER), "values": MOOD_VALUES}
    assert meta["slots"] == {"age": {"order": list(AGE_ORDER)}, "mood": mood}
    assert Corpus.load(tmp_path / "c").slots == slots
    del meta["slots"]  # a folder written before slots existed
    (tmp_path / "c" / "corpus.yaml").write_text(yaml.safe_dump(meta))
    old = Corpus.load(tmp_path / "c")
    assert old.slots == {} and len(old.ratings) == 20 + 17  # age, mood ratings
    meta["slots"] = {"age": ["teens", "20s"]}
    (tmp_path / "c" / "corpus.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(InputError, match=r"corpus.yaml, key 'slots.age': expected \{order: \[labels\]"):
        Corpus.load(tmp_path / "c")
    meta["slots"] = {"age": {"order": ["teens", "20s"]}}  # the ratings hold other age groups
    (tmp_path / "c" / "corpus.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(CorpusError, match=r"label '40s' is not in the declared order of slot 'age' \(teens, 20s\)"):
        Corpus.load(tmp_path / "c")


def test_bad_declarations_are_corpus_problems():
    with pytest.raises(
        CorpusError,
        match=r"key 'slots.mood': values must give one number per label of the order; "
        r"missing: \['Great'\]",
    ):
        _corpus({"mood": LabelOrder(MOOD_ORDER, {k: v for k, v in MOOD_VALUES.items() if k != "Great"})})
    with pytest.raises(CorpusError, match=r"key 'slots.age': the order is empty"):
        _corpus({"age": LabelOrder(())})


def test_merge_keeps_declared_orders_and_refuses_two_different_ones():
    a, b = _corpus({"age": LabelOrder(AGE_ORDER)}), _corpus({"age": LabelOrder(AGE_ORDER)})
    merged, _ = merge_corpora([MergeSource(a, "a"), MergeSource(b, "b")])
    assert merged.slots == {"age": LabelOrder(AGE_ORDER)}
    other = _corpus({"age": LabelOrder(AGE_ORDER[::-1])})
    with pytest.raises(ConfigError, match=r"slot 'age' has order .* in corpus 'a' but .* in corpus 'b'"):
        merge_corpora([MergeSource(a, "a"), MergeSource(other, "b")])


def test_cli_order_and_values(tmp_path):
    _corpus().save(tmp_path / "c")
    out = tmp_path / "alpha.csv"

    def run(*args: str):
        return CliRunner().invoke(voxpop.cli.app, ["agreement", str(tmp_path / "c"), *args, "--out", str(out)])

    result = run("--slot", "age", "--level", "ordinal")
    assert result.exit_code != 0 and "Pass --order" in str(result.exception)
    result = run("--slot", "age", "--level", "ordinal", "--order", ",".join(AGE_ORDER))
    assert result.exit_code == 0, result.output
    expected = krippendorff.alpha(_codes(AGE, AGE_ORDER), value_domain=range(8), level_of_measurement="ordinal")
    assert pd.read_csv(out)["value"].iloc[0] == pytest.approx(expected)
    values = ",".join(f"{k}={v:g}" for k, v in MOOD_VALUES.items())
    result = run("--slot", "mood", "--level", "interval", "--values", values)
    assert result.exit_code == 0, result.output
    numbers = [[np.nan if x is None else MOOD_VALUES[x] for x in row] for row in MOOD]
    expected = krippendorff.alpha(numbers, level_of_measurement="interval")
    assert pd.read_csv(out)["value"].iloc[0] == pytest.approx(expected)
    result = run("--slot", "mood", "--level", "interval", "--values", "Awful")
    assert result.exit_code != 0 and "--values 'Awful': expected LABEL=NUMBER" in str(result.exception)


def test_ratio_alpha_refuses_negative_values():
    """(c - k) / (c + k) is 0/0 for -2 and 2: those two values counted as agreeing perfectly, and ratio alpha on
    --values Awful=-2,Bad=2,... came out as an ordinary-looking number."""
    data = [[-2, 2, 3, 4], [2, -2, 3, 4]]  # the two raters disagree on items 1 and 2 as much as the scale allows
    with pytest.raises(ConfigError, match=r"ratio alpha needs values on a scale with a true zero \(>= 0\), got \[-2.0"):
        reliability.krippendorff_alpha(data, "ratio")
    assert reliability.krippendorff_alpha([[0, 2, 3, 4], [2, 0, 3, 4]], "ratio") < reliability.krippendorff_alpha(
        [[0, 2, 3, 4], [0, 2, 3, 4]], "ratio"
    )


def test_a_label_given_twice_in_values_is_named():
    """--values Awful=1,Awful=2,Bad=2 kept the last number and blamed the order ('Awful = 2 >= Bad = 2')."""
    from voxpop.corpus.slots import parse_values

    with pytest.raises(ConfigError, match=r"--values: label 'Awful' is given twice \(1 and 2\)"):
        parse_values("Awful=1,Awful=2,Bad=2")
