"""Broken and hostile recipes, flags and files (issue #21, items 1, 2 and 6): every case is an error at its key path
before any work, no resource bomb runs, and a recipe writes only where the user said."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

import voxpop.cli
from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.resampling import resample_indices
from voxpop.features.audio import AudioError, AudioLoader, AudioOptions
from voxpop.features.fbank import LOG_FLOOR, log_mel_fbank, mel_filterbank
from voxpop.labels.labelset import LabelSet
from voxpop.models.specs import HEAD_OPTIONS
from voxpop.study.loading import check_resample, load_recipe, recipe_from_dict
from voxpop.study.recipe import Recipe
from voxpop.study.recipe_paths import check_recipe_paths

BASE = "study: s\ncorpus: {demo: {size: tiny}}\n"


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as error:
        load_recipe(path, overrides)
    return str(error.value)


# ====================================================================== 1: validated to the end
@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("model: {optimiser: {lr: .inf}}", "model.optimiser.lr"),
        ("model: {optimiser: {betas: [.nan, 0.999]}}", "model.optimiser.betas[0]"),
        ("labels: {train: {a: {rule: mr, smoothing: .inf}}, test: {a: {rule: mr}}}", "labels.train.a.smoothing"),
        ("evaluation: {binarize: .nan}", "evaluation.binarize"),
        ("features: {max_seconds: .inf}", "features.max_seconds"),
        ("features: {noise_dir: n, snr_db: -.inf}", "features.snr_db"),
        ("model: {head_options: {dropout: .nan}}", "model.head_options.dropout"),
        ("features: {options: {frames_mix: [0.5, .nan]}}", "features.options.frames_mix[1]"),
        ("corpora: {a: {format: crema-d, arguments: {path: v.csv, max_votes: .inf}}}", "corpora.a.arguments.max_votes"),
        ("grid: {model.optimiser.lr: [0.1, .inf]}", "grid.model.optimiser.lr[1]"),
    ],
)
def test_non_finite_floats_are_refused_by_key_path(tmp_path, yaml_text, key):
    message = refused(write(tmp_path, BASE + yaml_text))
    assert f"  - {key}: Input should be a finite number" in message
    assert "JSON" not in message


def test_non_finite_numbers_are_listed_with_the_other_problems(tmp_path):
    message = refused(write(tmp_path, BASE + "model: {optimiser: {lr: .inf}, head_options: {hiden_dim: 8}}"))
    assert "(2 problems)" in message and "  - model.optimiser.lr: Input should be a finite number" in message
    assert "model.head_options: hiden_dim: unknown option of head 'mlp'" in message


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("model: {epochs: true}", "model.epochs: Input should be a valid integer"),
        ("evaluation: {bootstrap: true}", "evaluation.bootstrap: Input should be a valid integer"),
        ("model: {batch_size: -4}", "model.batch_size: Input should be greater than or equal to 1"),
        ("model: {head_options: {hidden_dim: -8}}", "model.head_options: hidden_dim: Input should be greater than or"),
        ("model: {head_options: {hidden_dim: true}}", "model.head_options: hidden_dim: Input should be a valid int"),
        (f"model: {{seed: {2**64}}}", "model.seed: Input should be less than or equal to 9223372036854775807"),
        (f"evaluation: {{bootstrap: {2**64}}}", f"evaluation.bootstrap: {2**64} is beyond the 64-bit integers"),
        ("protocol: {speaker_folds: {seed: -1}}", "protocol.speaker_folds.seed: Input should be greater than or equal"),
    ],
)
def test_counts_are_whole_numbers_within_int64(tmp_path, yaml_text, expected):
    assert expected in refused(write(tmp_path, BASE + yaml_text))


def test_option_maps_are_checked_against_the_head_loss_and_importer(tmp_path):
    message = refused(write(tmp_path, BASE + "model: {head_options: {hiden_dim: 8}}"))
    assert "model.head_options: hiden_dim: unknown option of head 'mlp' (accepted: hidden_dim, n_hidden, dropout)" in (
        message
    )
    message = refused(write(tmp_path, BASE + "model: {loss: cbce, loss_options: {betta: 0.9}}"))
    assert "model.loss_options: betta: unknown option of loss 'cbce' (accepted: beta, normalize)" in message
    message = refused(write(tmp_path, BASE + "model: {loss: ce, loss_options: {beta: 0.9}}"))
    assert "model.loss_options: beta: unknown option of loss 'ce' (accepted: none)" in message
    text = "study: s\ncorpus: {format: crema-d, arguments: {path: votes.csv, max_vote: 3, max_votes: true}}\n"
    message = refused(write(tmp_path, text))
    assert "arguments.max_vote: unknown argument of importer 'crema-d' (accepted: path, audio," in message
    assert "arguments.max_votes: Input should be a valid integer" in message
    message = refused(write(tmp_path, "study: s\ncorpus: {format: ravdess, arguments: {}}\n"))
    assert "arguments.directory: importer 'ravdess' needs this argument" in message


def test_head_options_list_exactly_the_modules_keyword_parameters():
    """The torch-free option schemas agree with the heads and pipelines that receive them (names and defaults)."""
    from voxpop.models.heads import CLASSICAL_PIPELINES, HEAD_MODULES

    targets = {**{n: c.__init__ for n, c in HEAD_MODULES.items()}, **CLASSICAL_PIPELINES}
    assert set(HEAD_OPTIONS) == set(targets)
    for name, target in targets.items():
        keyword = {
            p.name: p.default
            for p in inspect.signature(target).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name != "seed"
        }
        schema = {field: info.default for field, info in HEAD_OPTIONS[name].model_fields.items()}
        assert schema == keyword, name
        annotated = {n for n, p in inspect.signature(target).parameters.items() if p.annotation is not p.empty}
        assert annotated >= set(schema)  # every option is annotated (scikit-learn's types stay import-free)


def test_the_same_variant_twice_is_refused(tmp_path):
    message = refused(write(tmp_path, BASE + "grid: {model.loss: [ce, kld, ce]}"))
    assert "variant (loss=ce): the same recipe as variant (loss=ce); give each variant once" in message
    text = BASE + "variants: {a: {model: {epochs: 3}}, b: {model: {epochs: 3}}}"
    assert "variant (b): the same recipe as variant (a)" in refused(write(tmp_path, text))


def test_a_recipe_must_be_utf8_text_of_bounded_size(tmp_path, monkeypatch):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.encode() + "title: caf\xe9\n".encode("latin-1"))
    message = refused(path)
    assert f"{path}: not UTF-8 text (byte {len(BASE) + 10}: b'\\xe9')" in message
    big = write(tmp_path, BASE + "description: " + "x" * 200 + "\n", "big.yaml")
    monkeypatch.setenv("VOXPOP_MAX_RECIPE_BYTES", "100")
    message = refused(big)
    assert f"{big}: {big.stat().st_size:,} bytes of a recipe file exceeds the ceiling of 100" in message
    assert "VOXPOP_MAX_RECIPE_BYTES" in message
    monkeypatch.setenv("VOXPOP_MAX_RECIPE_BYTES", str(big.stat().st_size))
    assert load_recipe(big).study == "s"


# ====================================================================== 2: no resource bombs
def test_a_million_variants_are_refused_before_any_is_built(tmp_path):
    keys = ["model.epochs", "model.batch_size", "model.seed", "protocol.speaker_folds.k", "features.max_seconds",
            "model.optimiser.warmup_steps"]  # fmt: skip
    grid = ", ".join(f"{k}: [{', '.join(str(v) for v in range(2, 12))}]" for k in keys)  # 10^6 combinations
    started = time.monotonic()
    message = refused(write(tmp_path, BASE + f"grid: {{{grid}}}"))
    assert time.monotonic() - started < 10
    assert "1,000,000 variants of a study (named variants x grid combinations) exceeds the ceiling of 1,000" in message
    assert "VOXPOP_MAX_VARIANTS" in message


def test_yaml_aliases_are_counted_expanded(tmp_path, monkeypatch):
    path = write(tmp_path, BASE)
    # [&a [1, 2], *a, *a]: the outer list, then three times the inner list with its two values = 1 + 3 * 3 = 10
    monkeypatch.setenv("VOXPOP_MAX_YAML_NODES", "9")
    message = refused(path, "grid.model.epochs=[&a [1, 2], *a, *a]")
    assert "--set grid.model.epochs: 10 YAML values of a recipe with its aliases expanded exceeds the ceiling of 9" in (
        message
    )
    monkeypatch.setenv("VOXPOP_MAX_YAML_NODES", "10")
    # within the ceiling it is parsed, and then refused by the schema: a list is not a number of epochs
    assert "grid.model.epochs[0]" in refused(path, "grid.model.epochs=[&a [1, 2], *a, *a]")
    monkeypatch.delenv("VOXPOP_MAX_YAML_NODES")
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = "{" + ", ".join(levels) + "}"  # 10^9 values when expanded
    message = refused(path, f"model.head_options={bomb}")
    # the mapping, its 9 keys, and level i: 1 + 10 x level i-1 values (level 0: 1 + 10) = (10^(i+2) - 1) / 9
    expected = 1 + 9 + sum((10 ** (i + 2) - 1) // 9 for i in range(9))
    assert f"--set model.head_options: {expected:,} YAML values" in message and "VOXPOP_MAX_YAML_NODES" in message


def test_bootstrap_resamples_times_items_have_a_ceiling():
    with pytest.raises(ConfigError, match=r"10,000,000 bootstrap resamples of 10,000 items: 100,000,000,000 boot"):
        resample_indices(np.zeros(10_000, dtype=int), n_boot=10**7)
    recipe = recipe_from_dict(
        {"study": "s", "corpus": {"demo": {}}, "evaluation": {"bootstrap": 10**9}, "analyses": {"agreement": True}}
    )
    corpus = SimpleNamespace(name="c", items=pd.DataFrame({"speaker": ["s1"] * 1_000}))
    problems: list[str] = []
    check_resample(corpus, recipe, problems)
    assert problems == [
        "evaluation.bootstrap (1,000 items): 1,000,000,000,000 bootstrap resamples x items of one test set exceeds "
        "the ceiling of 100,000,000; ask for less, or raise the ceiling with the environment variable "
        "VOXPOP_MAX_BOOTSTRAP_CELLS (see docs/recipes.md, 'Ceilings')"
    ]


def test_head_parameters_have_a_ceiling(monkeypatch):
    from voxpop.models.heads import build_head

    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"model\.head_options of head 'mlp' \(88 inputs.*VOXPOP_MAX_HEAD_PARAMETERS"):
        build_head("mlp", 88, 4, hidden_dim=300_000_000)
    assert time.monotonic() - started < 10  # counted on the meta device, nothing allocated
    # mlp 8 -> 16 -> 16 -> 3: (8 * 16 + 16) + (16 * 16 + 16) + (16 * 3 + 3) = 144 + 272 + 51 = 467 parameters
    monkeypatch.setenv("VOXPOP_MAX_HEAD_PARAMETERS", "466")
    with pytest.raises(ConfigError, match="467 trainable parameters of a model head exceeds the ceiling of 466"):
        build_head("mlp", 8, 3, hidden_dim=16)
    monkeypatch.setenv("VOXPOP_MAX_HEAD_PARAMETERS", "467")
    assert sum(p.numel() for p in build_head("mlp", 8, 3, hidden_dim=16).parameters()) == 467


def invoke(*args: object) -> tuple[int, str]:
    """Exit code and what the user reads (the output, and the message of the error ``voxpop`` prints)."""
    result = CliRunner().invoke(voxpop.cli.app, [str(a) for a in args])
    return result.exit_code, result.output + str(result.exception or "")


def test_workers_and_threads_beyond_the_machine_are_refused(tmp_path, monkeypatch):
    path = write(tmp_path, BASE)
    monkeypatch.setenv("VOXPOP_MAX_WORKERS", "4")
    monkeypatch.setenv("VOXPOP_MAX_THREADS", "4")
    code, message = invoke("run", path, "--out", tmp_path / "out", "--workers", 999)
    assert code != 0
    assert "--workers: 999 worker processes (default: this machine's usable cores) exceeds the ceiling of 4" in message
    code, message = invoke("run", path, "--out", tmp_path / "out", "--workers", 1, "--threads", 100_000)
    assert code != 0 and "--threads: 100,000 CPU threads per stage" in message
    assert "VOXPOP_MAX_THREADS" in message and not (tmp_path / "out").exists()


def wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    samples = np.random.default_rng(0).normal(0, 0.1, round(seconds * rate)).astype(np.float32)
    soundfile.write(path, samples, rate)
    return path


def test_a_clip_longer_than_the_ceiling_is_refused_with_its_name_and_max_seconds(tmp_path, monkeypatch):
    path = wav(tmp_path / "long.wav", 3.0)
    monkeypatch.setenv("VOXPOP_MAX_CLIP_SECONDS", "2")
    with pytest.raises(AudioError) as error:
        AudioLoader().load(path, "long")
    assert error.value.reason == "too_long"
    assert f"{path}: item 'long': 3 s of audio is more than the 2 s read per clip" in str(error.value)
    assert "max_seconds" in str(error.value) and "VOXPOP_MAX_CLIP_SECONDS" in str(error.value)
    head = AudioLoader(AudioOptions(max_seconds=1.5)).load(path, "long")  # the head only: read in bounded memory
    assert len(head) == 24_000  # 1.5 s at 16 kHz


def test_fbank_in_blocks_equals_the_formula_on_the_whole_signal():
    """A long signal is computed block by block; every frame equals the unblocked formula of the docstring."""
    rate, frame, hop = 16000, 400, 160
    signal = np.random.default_rng(1).normal(0, 0.1, 160 * 5000 + 240).astype(np.float32)  # 5,000 frames > 1 block
    x = np.lib.stride_tricks.sliding_window_view(signal.astype(np.float64), frame)[::hop]
    x = x - x.mean(axis=1, keepdims=True)
    y = np.concatenate([(1 - 0.97) * x[:, :1], x[:, 1:] - 0.97 * x[:, :-1]], axis=1) * np.hanning(frame) ** 0.85
    power = np.abs(np.fft.rfft(y, n=512, axis=1)) ** 2
    expected = np.log(np.maximum(power @ mel_filterbank(80, 512, rate), LOG_FLOOR))
    got = log_mel_fbank(signal, rate)
    assert got.shape == (1 + (len(signal) - frame) // hop, 80) == (5000, 80)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


# ====================================================================== 6: writes only where the user said
def test_recipe_paths_outside_its_folder_out_and_store_need_the_opt_in(tmp_path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "elsewhere").mkdir()
    recipe_file = tmp_path / "recipes" / "r.yaml"
    out = tmp_path / "out"

    def recipe(**changes) -> Recipe:
        return recipe_from_dict({"study": "s", "corpus": {"demo": {}}, **changes})

    check_recipe_paths(recipe(features={"store": str(tmp_path / "recipes" / "store")}), recipe_file, out)
    check_recipe_paths(recipe(features={"store": str(out / "cache")}), recipe_file, out)
    outside = recipe(
        features={"store": "/etc/voxpop-store"},
        labels={"train": {"A": {"rule": "file", "path": str(tmp_path / "elsewhere" / "a.parquet")}}, "test": {}},
    )
    with pytest.raises(ConfigError) as error:
        check_recipe_paths(outside, recipe_file, out)
    message = str(error.value)
    assert "  - features.store: /etc/voxpop-store\n" in message
    assert f"  - labels.train.A.path: {tmp_path / 'elsewhere' / 'a.parquet'}\n" in message
    assert "--allow-outside-paths" in message
    check_recipe_paths(outside, recipe_file, out, allow_outside=True)
    # a symbolic link inside the recipe's folder that points outside is outside
    (tmp_path / "recipes" / "link").symlink_to(tmp_path / "elsewhere")
    fused = recipe(analyses={"fusion": {"predictions": {"x": str(tmp_path / "recipes" / "link" / "p.parquet")}}})
    with pytest.raises(ConfigError, match=r"analyses\.fusion\.predictions\.x: .*elsewhere/p\.parquet"):
        check_recipe_paths(fused, recipe_file, out)
    # files inside an accepted store are inside
    stored = recipe(
        features={"store": str(out / "store")},
        labels={"train": {"A": {"rule": "file", "path": str(out / "store" / "a.parquet")}}, "test": {}},
    )
    check_recipe_paths(stored, recipe_file, out)


def test_voxpop_run_creates_nothing_outside_without_the_opt_in(tmp_path):
    (tmp_path / "recipes").mkdir()
    store = tmp_path / "elsewhere" / "store"
    path = write(tmp_path / "recipes", BASE + f"features: {{store: {store}}}\n")
    code, message = invoke("run", path, "--out", tmp_path / "out", "--workers", 1, "--dry-run")
    assert code != 0
    assert f"features.store: {store}" in message and "--allow-outside-paths" in message
    assert not store.exists() and not (tmp_path / "elsewhere").exists() and not (tmp_path / "out").exists()


def test_a_label_file_that_is_not_parquet_is_refused_without_its_content(tmp_path):
    path = tmp_path / "labels.parquet"
    path.write_text("root:SECRET-PASSWORD-LINE:0:0\n" * 20)
    with pytest.raises(InputError) as error:
        LabelSet.load(path)
    assert str(error.value).startswith(f"{path}: not a Parquet file")
    assert "SECRET" not in str(error.value)


def test_extraction_skips_and_counts_a_clip_over_the_ceiling(tmp_path, monkeypatch):
    from voxpop.corpus.corpus import Corpus
    from voxpop.features.extraction import extract

    audio = [str(wav(tmp_path / "short.wav", 1.0)), str(wav(tmp_path / "long.wav", 3.0))]
    items = pd.DataFrame({"speaker": ["s1", "s2"], "audio": audio}, index=["short", "long"])
    ratings = pd.DataFrame({"item": ["short", "long"], "label": ["anger", "sad"], "slot": ["primary", "primary"]})
    corpus = Corpus("clips", items, ratings, classes=["anger", "sad"])
    monkeypatch.setenv("VOXPOP_MAX_CLIP_SECONDS", "2")
    features = extract(corpus, "fbank", store=tmp_path / "store")
    assert list(features.skipped.index) == ["long"] and features.skipped.loc["long", "reason"] == "too_long"
    assert "long.wav: item 'long': 3 s of audio is more than the 2 s" in features.skipped.loc["long", "message"]
    assert list(features.items) == ["short"] and features.values.shape == (1, 160)  # the other clip is extracted


def test_every_bootstrap_and_worker_entry_point_meets_its_ceiling(monkeypatch):
    from voxpop.agreement.reliability import alpha_ci
    from voxpop.features import make_extractor
    from voxpop.study.execution import blas_threads

    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2], [1, 2, 3, 3, 2, 2, 4, 1, 2], [2, 3, 3, 3, 2, 3, 4, 2, 2]]  # 9 pairable items
    monkeypatch.setenv("VOXPOP_MAX_BOOTSTRAP_CELLS", "8999")
    with pytest.raises(ConfigError, match="9,000 bootstrap resamples x items of one test set exceeds the ceiling"):
        alpha_ci(data, "interval", n_boot=1000)
    monkeypatch.setenv("VOXPOP_MAX_BOOTSTRAP_CELLS", "9000")
    assert alpha_ci(data, "interval", n_boot=1000).low <= 1
    monkeypatch.setenv("VOXPOP_MAX_WORKERS", "3")
    with pytest.raises(ConfigError, match=r"extractor option workers \(features\.options\.workers, --workers\): 4 "):
        make_extractor("fbank", workers=4)
    assert make_extractor("fbank", workers=3).workers == 3
    monkeypatch.setenv("VOXPOP_MAX_THREADS", "2")
    with pytest.raises(ConfigError, match=r"--threads .*: 100,000 CPU threads per stage .* exceeds the ceiling of 2;"):
        blas_threads(100_000).__enter__()
    monkeypatch.setenv("VOXPOP_MAX_THREADS", "many")
    with pytest.raises(ConfigError, match="VOXPOP_MAX_THREADS='many': expected a positive whole number"):
        blas_threads(1).__enter__()
