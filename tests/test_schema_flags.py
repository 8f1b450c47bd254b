"""`voxpop train`'s flags are generated from the recipe schema (voxpop.cli.schema_flags): a key added to the schema
is a flag with the same name and help text, every flag sets a recipe key, and the values land at the key's path."""

from __future__ import annotations

import typing
from typing import Any, Literal

import pydantic
import pytest
import typer
from typer.testing import CliRunner

import voxpop.cli
from voxpop.cli.schema_flags import SchemaFlag, recipe_of_flags, schema_flags, with_schema_flags
from voxpop.cli.train_verbs import NOT_FLAGS, NOTES, PARSERS, RECIPE_ONE_OF, recipe_flags, train, train_recipe
from voxpop.core.errors import ConfigError
from voxpop.labels.registry import OPTIONS
from voxpop.study.recipe import FeatureSpec, LabelSpec, Recipe

WIDE = {"COLUMNS": "250"}


# ---------------------------------------------------------------------------------------------------- a small schema
class Fit(pydantic.BaseModel):
    epochs: int = pydantic.Field(20, description="Most epochs.")
    standardize: bool = pydantic.Field(True, description="z-score the features.")
    schedule: Literal["constant", "cosine"] = pydantic.Field("constant", description="Learning-rate schedule.")
    devices: int | str | list[int] = pydantic.Field("auto", description="Devices.")
    options: dict[str, Any] = pydantic.Field({}, description="Head options.")
    seed: int = pydantic.Field(0, description="Seed of the model.")


class Folds(pydantic.BaseModel):
    k: int = pydantic.Field(5, description="Number of folds.")
    dev: bool = pydantic.Field(True, description="Hold out a dev fold.")
    seed: int = pydantic.Field(0, description="Seed of the folds.")


class Split(pydantic.BaseModel):
    columns: list[str] = pydantic.Field(["split"], description="Split columns.")
    dev: str = pydantic.Field("Development", description="Dev value.")


class Protocol(pydantic.BaseModel):
    folds: Folds | None = pydantic.Field(None, description="Folds.")
    split: Split | None = pydantic.Field(None, description="Split.")


class Fusion(pydantic.BaseModel):
    tune_on: Literal["dev", "other_folds"] = pydantic.Field("dev", description="Where weights are tuned.")
    draws: int = pydantic.Field(100, description="Weight draws.")


class Tuned(pydantic.BaseModel):
    tune_on: Literal["dev", "other_folds"] = pydantic.Field("dev", description="Where offsets are tuned.")


class Analyses(pydantic.BaseModel):
    fusion: Fusion | None = pydantic.Field(None, description="Late fusion.")
    tuned: Tuned | None = pydantic.Field(None, description="Tuned decisions.")


class Study(pydantic.BaseModel):
    classes: list[str] | None = pydantic.Field(None, description="Class subset.")
    model: Fit = pydantic.Field(Fit(), description="The model.")
    protocol: Protocol = pydantic.Field(Protocol(), description="The protocol.")
    analyses: Analyses = pydantic.Field(Analyses(), description="Analyses.")


ONE_OF = {"protocol": "folds"}


def small_flags(reserved=()) -> list[SchemaFlag]:
    return schema_flags(Study, one_of=ONE_OF, reserved=reserved)


def test_names_follow_the_keys_shared_and_colliding_names_and_sections():
    flags = {f.flag: f for f in small_flags(reserved=["draws"])}
    assert flags["--epochs"].keys == ("model.epochs",) and flags["--epochs"].panel == "model"
    # same name and type: one flag for every such key; in a one-of section the default choice keeps its names
    assert flags["--seed"].keys == ("model.seed", "protocol.folds.seed")
    assert flags["--tune-on"].keys == ("analyses.fusion.tune_on", "analyses.tuned.tune_on")
    # another choice's keys are named with it, unless the default choice has that key with that type
    assert flags["--dev"].keys == ("protocol.folds.dev",) and flags["--split-dev"].keys == ("protocol.split.dev",)
    assert flags["--split-columns"].keys == ("protocol.split.columns",)
    # a name the command takes itself: named with the section
    assert "--draws" not in flags and flags["--fusion-draws"].keys == ("analyses.fusion.draws",)
    assert (flags["--protocol"].kind, flags["--protocol"].choices) == ("choice", ("folds", "split"))
    assert flags["--fusion"].kind == "switch" and flags["--tuned"].kind == "switch"
    assert flags["--classes"].panel == "items and classes"
    assert set(flags) == {"--classes", "--epochs", "--standardize", "--schedule", "--devices", "--options", "--seed",
                          "--protocol", "--k", "--dev", "--split-columns", "--split-dev", "--fusion", "--tune-on",
                          "--fusion-draws", "--tuned"}  # fmt: skip


def test_two_keys_no_rule_tells_apart_are_refused():
    clash = pydantic.create_model("Clash", a=(int, 0), b=(str, ""))
    with pytest.raises(ConfigError, match="the command has a flag 'a' already"):
        schema_flags(pydantic.create_model("Top", a=(int, 0)), reserved=["a"])
    flags = schema_flags(pydantic.create_model("Top", x=(clash, clash()), y=(clash, clash())))
    assert {f.flag: f.keys for f in flags} == {"--a": ("x.a", "y.a"), "--b": ("x.b", "y.b")}


def small_app(seen: dict) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @with_schema_flags(small_flags)
    def fit(flag_values: dict | None = None) -> None:
        seen.update(recipe_of_flags(fit.schema_flags, flag_values, ONE_OF))

    @app.command()
    def other() -> None:  # two commands: typer names them
        pass

    return app


def run_small(*args: str) -> dict:
    seen: dict = {}
    result = CliRunner().invoke(small_app(seen), ["fit", *args], env=WIDE)
    assert result.exit_code == 0, result.output
    return seen


def test_values_land_at_their_keys_typed_as_the_schema_says():
    assert run_small() == {}  # nothing given, nothing written: the defaults are the schema's
    assert run_small("--epochs", "3", "--no-standardize", "--schedule", "cosine") == {
        "model": {"epochs": 3, "standardize": False, "schedule": "cosine"}
    }
    # lists: comma-separated and repeatable; mappings: KEY=VALUE, values as JSON; unions: as YAML (--set)
    assert run_small("--classes", "anger,sad", "--classes", "happy") == {"classes": ["anger", "sad", "happy"]}
    assert run_small("--options", "hidden_dim=16", "--options", "name=x") == {
        "model": {"options": {"hidden_dim": 16, "name": "x"}}
    }
    assert run_small("--devices", "0,1")["model"]["devices"] == [0, 1]
    assert run_small("--devices", "2")["model"]["devices"] == 2
    assert run_small("--devices", "auto")["model"]["devices"] == "auto"


def test_one_of_sections_switches_and_shared_flags():
    # the shared --seed fills the default protocol when none is chosen, the chosen one otherwise
    assert run_small("--seed", "7") == {"model": {"seed": 7}, "protocol": {"folds": {"seed": 7}}}
    assert run_small("--seed", "7", "--protocol", "split") == {"model": {"seed": 7}, "protocol": {"split": {}}}
    # a key of another choice chooses it; the default choice with nothing given stays unwritten
    assert run_small("--split-columns", "fold1,fold2", "--split-dev", "Dev") == {
        "protocol": {"split": {"columns": ["fold1", "fold2"], "dev": "Dev"}}
    }
    assert run_small("--protocol", "folds") == {}
    assert run_small("--protocol", "folds", "--split-dev", "Dev") == {  # both: the schema refuses it, not dropped
        "protocol": {"split": {"dev": "Dev"}}
    }
    # a switch turns its section on; a key of its own too; a shared key fills only the sections that are on
    assert run_small("--fusion") == {"analyses": {"fusion": {}}}
    assert run_small("--draws", "5") == {"analyses": {"fusion": {"draws": 5}}}
    assert run_small("--tuned", "--tune-on", "other_folds") == {"analyses": {"tuned": {"tune_on": "other_folds"}}}
    assert run_small("--no-fusion") == {"analyses": {"fusion": None}}


def test_a_shared_flag_whose_sections_are_off_and_a_switched_off_key_are_errors():
    flags = small_flags()
    with pytest.raises(ConfigError, match=r"--tune-on sets .* which are off: give --fusion or --tuned too"):
        recipe_of_flags(flags, {"tune_on": "dev"}, ONE_OF)
    with pytest.raises(ConfigError, match="--draws sets analyses.fusion.draws, which --no-fusion turns off"):
        recipe_of_flags(flags, {"fusion": False, "draws": 3}, ONE_OF)


def test_help_is_the_description_in_panels_by_section():
    result = CliRunner().invoke(small_app({}), ["fit", "--help"], env=WIDE)
    lines = result.output.splitlines()
    line = next(x for x in lines if "--epochs" in x)
    assert "Most epochs." in line and "[default: (20)]" in line  # the recipe default, shown; the flag's is unset
    assert "--standardize" in (x := next(x for x in lines if "--no-standardize" in x)) and "z-score" in x
    assert "<constant|cosine>" in next(x for x in lines if "--schedule" in x)
    assert "sets model.seed, protocol.folds.seed" in next(x for x in lines if "--seed" in x)
    panels = [x.strip("╭─ ").split(" ")[0] for x in lines if x.startswith("╭─")]
    assert panels[-4:] == ["items", "model", "protocol", "analyses"]


# ---------------------------------------------------------------------------------------------------- voxpop train
class NewKeys(FeatureSpec):
    """The features section with a key added, as a later recipe key would be."""

    frame_hop: float | None = pydantic.Field(None, gt=0, description="Hop between frames in seconds.")


class RecipeWithNewKey(Recipe):
    features: NewKeys = pydantic.Field(NewKeys(), description="Features.")


def test_a_key_added_to_the_recipe_schema_is_a_train_flag_with_its_help(monkeypatch):
    monkeypatch.setattr("voxpop.study.recipe.Recipe", RecipeWithNewKey)
    flags = {f.flag: f for f in recipe_flags()}
    assert flags["--frame-hop"].keys == ("features.frame_hop",) and flags["--frame-hop"].panel == "features"
    app, seen = typer.Typer(), {}

    @app.command()
    @with_schema_flags(recipe_flags, NOTES)
    def command(flag_values: dict | None = None) -> None:
        seen.update(recipe_of_flags(command.schema_flags, flag_values, RECIPE_ONE_OF))

    @app.command()
    def other() -> None:
        pass

    output = CliRunner().invoke(app, ["command", "--help"], env=WIDE).output
    assert "Hop between frames in seconds." in next(x for x in output.splitlines() if "--frame-hop" in x)
    assert CliRunner().invoke(app, ["command", "--frame-hop", "0.02"]).exit_code == 0
    assert seen == {"features": {"frame_hop": 0.02}}


def schema_keys(model: type[pydantic.BaseModel], prefix: str = "") -> list[str]:
    """Every key of a schema, sections included (walked here, not by the code under test)."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        inner = [a for a in (typing.get_args(field.annotation) or (field.annotation,)) if a is not type(None)]
        for sub in inner:
            if isinstance(sub, type) and issubclass(sub, pydantic.BaseModel):
                keys += schema_keys(sub, f"{prefix}{name}.")
    return keys


HAND_WRITTEN = {  # voxpop train's own flags: what they set
    "corpus": "corpus.path",
    "labels": "labels",  # labels.train.NAME and labels.test.NAME: rule (or rule file with path)
    "condition": "labels",
    "pool": "labels",
    "features": "features",  # a store entry: its extractor, options, store, audio options
    "workers": "features.options",  # features.options.workers
    "beta": "model.loss_options",  # model.loss_options.beta
    "threads": None,  # how to run, not what: the same study with any number of threads
    "out": None,  # where
    "progress": None,  # how the run is shown, not what it computes
    "help": None,
}


def test_every_train_flag_sets_a_recipe_key_and_every_key_has_a_flag():
    command = typer.main.get_command(voxpop.cli.app).commands["train"]
    generated = {f.name: f for f in train.schema_flags}
    keys = set(schema_keys(Recipe))
    for parameter in command.params:
        if parameter.name in generated:
            assert set(generated[parameter.name].keys) <= keys, parameter.name
        elif parameter.name in OPTIONS:  # the rule options, from the registry: LabelSpec's keys
            assert parameter.name in LabelSpec.model_fields
        else:
            assert parameter.name in HAND_WRITTEN, f"--{parameter.name}: neither generated nor a known own flag"
            assert HAND_WRITTEN[parameter.name] is None or HAND_WRITTEN[parameter.name] in keys
    flagged = {k for f in generated.values() for k in f.keys}
    sections = {k for k in keys if any(other.startswith(f"{k}.") for other in keys)}
    for key in keys - sections:  # every key is a flag, or excluded on purpose (NOT_FLAGS: itself or its section)
        assert any(key.rsplit(".", n)[0] in flagged | set(NOT_FLAGS) for n in range(key.count(".") + 1)), key
    # the label sets: every key of a rule's spec is a train flag (but the rule's seed: --seed seeds the model)
    label_flags = {p.name for p in command.params if p.name in LabelSpec.model_fields and p.name not in generated}
    assert set(LabelSpec.model_fields) - label_flags == {"rule", "path", "seed"}  # --labels gives rule or path


def test_train_flags_build_the_recipe_keys(tmp_path):
    flags = train.schema_flags

    def recipe(**given):
        sections = recipe_of_flags(flags, given, RECIPE_ONE_OF, PARSERS)
        return train_recipe(tmp_path, "mr", {}, sections, None)

    built = recipe(seed=3, k=4, head="logreg,mlp", loss="cbce", head_options=["mlp.hidden_dim=16", "C=2"])
    assert built["protocol"] == {"speaker_folds": {"seed": 3, "k": 4}} and built["evaluation"] == {"seed": 3}
    assert built["variants"] == {  # classical heads take no loss; HEAD.KEY options go to that head only
        "logreg": {"model": {"seed": 3, "head": "logreg", "head_options": {"C": 2}}},
        "mlp": {"model": {"seed": 3, "loss": "cbce", "head": "mlp", "head_options": {"hidden_dim": 16, "C": 2}}},
    }
    built = recipe(protocol="leave-one-out", column="session")
    assert built["protocol"] == {"leave_one_out": {"column": "session"}}
    built = recipe(split_columns=["fold1", "fold2"], split_train="tr", split_dev="dv", split_test="te")
    assert built["protocol"] == {"split": {"columns": ["fold1", "fold2"], "train": "tr", "dev": "dv", "test": "te"}}
    assert recipe(patience=0)["model"] == {"early_stopping": None}  # --patience 0: no early stopping
    assert recipe(backbone="models/wavlm")["features"] == {"extractor": "waveform:models/wavlm"}
    assert recipe(evaluation_tie_policy="first")["evaluation"] == {"tie_policy": "first"}
    assert recipe(class_map=["calm=drop,angry=anger"])["class_map"] == {"calm": "drop", "angry": "anger"}
    assert recipe(fusion=True, tune_on="other_folds", seed=2)["analyses"] == {
        "fusion": {"tune_on": "other_folds", "seed": 2}
    }
    assert Recipe.model_validate(recipe(fusion=True, devices="0,1", betas=["0.8,0.9"])).model.devices == [0, 1]


def test_schema_errors_name_the_flags(tmp_path):
    result = CliRunner().invoke(voxpop.cli.app, [
        "train", str(tmp_path), "--labels", "mr", "--k", "3", "--split", "fold1", "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    message = str(result.exception)
    assert isinstance(result.exception, ConfigError) and "give one protocol, not speaker_folds and split" in message
    assert message.endswith("(recipe keys above are these voxpop train flags: protocol = --protocol)")
    result = CliRunner().invoke(voxpop.cli.app, [
        "train", str(tmp_path), "--labels", "mr", "--batch-size", "0", "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert "model.batch_size: Input should be greater than or equal to 1" in str(result.exception)
    assert "batch_size = --batch-size" in str(result.exception)
    result = CliRunner().invoke(voxpop.cli.app, [
        "train", str(tmp_path), "--labels", "mr", "--loss", "cbce", "--beta", "2", "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert "model.loss_options: beta: Input should be less than 1" in str(result.exception)  # read as a number
    assert "beta = --beta" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_train_help_lists_the_flags_by_recipe_section():
    output = CliRunner().invoke(voxpop.cli.app, ["train", "--help"], env=WIDE).output
    panels = [x.strip("╭─ ").split(" ")[0] for x in output.splitlines() if x.startswith("╭─")]
    assert panels == ["Arguments", "Options", "labels", "features", "model", "items", "protocol", "evaluation",
                      "analyses"]  # fmt: skip
    for flag in train.schema_flags:
        line = next(x for x in output.splitlines() if f" {flag.flag} " in x or f" {flag.flag}," in x)
        assert flag.field.description.split(" ")[0] in line, flag.flag


def test_the_docs_table_of_train_flags_is_the_generated_one():
    from pathlib import Path

    from voxpop.cli.schema_flags import flags_markdown

    page = (Path(__file__).parents[1] / "docs" / "cli" / "train.md").read_text(encoding="utf-8")
    assert flags_markdown(train.schema_flags, NOTES) in page  # else: python docs/regenerate.py --only train.md
