"""Docs that run: every command of a docs page's ```bash blocks runs as written, in order, on small inputs.

A page is run in a fresh working folder laid out as docs/corpora.md ("How to read the commands") defines for every
page: ``DATA/`` the raw data folder (built by the page's builders in tests/docs_inputs.py), ``corpora/`` the
imported corpora, ``labels/`` label sets, ``runs/`` outputs. A ```yaml block right after ``<!-- file: NAME -->`` is
written to NAME in that folder when the run reaches it. A block right after ``<!-- needs: WHAT -->`` needs something
no test can build (a download): it is skipped, and listed as skipped; any other block may hold only ``voxpop``
commands, so nothing is skipped without its mark. Commands run in-process through typer's CliRunner.

To cover another page, add it to :data:`PAGES` with the builders of the inputs it assumes.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import re
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import docs_inputs
import voxpop.cli
from session_once import built_once

ROOT = Path(__file__).resolve().parents[1]
D = docs_inputs
PAGES = {
    "README.md": (),
    **{f"docs/{page.name}": () for page in sorted((ROOT / "docs").glob("*.md"))},
    **{f"docs/cli/{page.name}": () for page in sorted((ROOT / "docs" / "cli").glob("*.md"))},
    "docs/corpora.md": D.CORPORA_PAGE,
    "docs/filters.md": (D.cremad, D.earkick),
    "docs/labels-and-agreement.md": (D.cremad, D.earkick),
    "docs/cli/agreement.md": (D.earkick,),
    "docs/budget.md": (D.cremad,),
    "docs/cli/budget.md": (D.cremad,),
    "docs/cli/compare.md": (D.cremad,),
    "docs/cli/labels.md": (D.cremad, D.earkick, D.iemocap),
    "docs/cli/mlcm.md": (D.cremad,),
    "docs/cli/sweep.md": (D.demo,),
    "docs/cli/validate.md": (D.cremad,),
    "docs/cli/run.md": (D.cremad, D.ravdess),
    "docs/cli/evaluate.md": (D.cremad, D.ravdess),
    "docs/cli/fuse.md": (D.cremad, D.fusion_inputs),
    "docs/cli/predict.md": (D.cremad, D.clips),
    "docs/cli/export.md": (D.ravdess, D.clips),
    "docs/cli/merge.md": (D.cremad, D.ravdess),
    "docs/cli/audit.md": (D.cremad, D.ravdess),
    "docs/cli/features.md": (D.cremad,),
    "docs/cli/store.md": (D.cremad,),
    "docs/cli/train.md": (D.cremad, D.msp_podcast, D.wavlm_base_plus),
    "docs/fine-tuning.md": (D.cremad, D.wavlm_base_plus),
    "docs/cli/import.md": D.IMPORT_PAGE,
    "docs/ravdess-baselines.md": (D.ravdess, D.clips),
    "docs/cross-corpus.md": (D.ravdess, D.cremad_sample),
}
"""Docs page (relative to the repository) -> the builders of its ``DATA/`` folder: README.md and every page of
docs/ and docs/cli/."""

IMPORT_CREMAD = ("voxpop import crema-d DATA/crema-d/tabulatedVotes.csv --audio DATA/crema-d/AudioWAV "
                 "--folds DATA/crema-d/speaker_folds.csv --out corpora/crema-d")  # fmt: skip
IMPORT_IEMOCAP = "voxpop import iemocap DATA/IEMOCAP_full_release --out corpora/iemocap"
IMPORT_EARKICK = "voxpop import earkick DATA/earkick-reannotation/assessment.csv --out corpora/earkick"
IMPORT_MSP_PODCAST = ("voxpop import msp DATA/msp-podcast/Labels/labels_detailed.csv --consensus "
                      "DATA/msp-podcast/Labels/labels_consensus.csv --audio-dir DATA/msp-podcast/Audios "
                      "--duplicates mean --out corpora/msp-podcast")  # fmt: skip
IMPORT_RAVDESS = "voxpop import ravdess DATA/ravdess --out corpora/ravdess"
TRAIN_RAVDESS = (
    "voxpop train corpora/ravdess --labels mr --extractor opensmile:eGeMAPSv02 --head logreg --out runs/ravdess"
)
TRAIN_AR = ("voxpop train corpora/crema-d --labels ar --condition voice --extractor opensmile:eGeMAPSv02 "
            "--head mlp,logreg --loss cbce --out runs/ar")  # fmt: skip
SETUP = {
    "docs/filters.md": (IMPORT_CREMAD, IMPORT_EARKICK),
    "docs/cli/agreement.md": (IMPORT_EARKICK,),
    "docs/cli/compare.md": (IMPORT_CREMAD,),
    "docs/budget.md": (IMPORT_CREMAD,),
    "docs/cli/budget.md": (IMPORT_CREMAD,),
    "docs/cli/labels.md": (IMPORT_CREMAD, IMPORT_EARKICK, IMPORT_IEMOCAP),
    "docs/cli/mlcm.md": (
        IMPORT_CREMAD,
        TRAIN_AR,
        "voxpop labels corpora/crema-d --rule ar --condition voice --out labels/ar-test.parquet",
    ),
    "docs/cli/validate.md": (IMPORT_CREMAD, TRAIN_AR),
    "docs/cli/evaluate.md": (IMPORT_CREMAD, TRAIN_AR, IMPORT_RAVDESS, TRAIN_RAVDESS),
    "docs/cli/predict.md": (IMPORT_CREMAD, TRAIN_AR),
    "docs/cli/fuse.md": (IMPORT_CREMAD,),
    "docs/cli/merge.md": (IMPORT_CREMAD, IMPORT_RAVDESS),
    "docs/cli/audit.md": (IMPORT_CREMAD, IMPORT_RAVDESS),
    "docs/cli/features.md": (IMPORT_CREMAD,),
    "docs/cli/store.md": (IMPORT_CREMAD, "voxpop features corpora/crema-d --extractor fbank"),
    "docs/cli/run.md": (IMPORT_CREMAD, IMPORT_RAVDESS),
    "docs/cli/train.md": (IMPORT_CREMAD, IMPORT_MSP_PODCAST),
    "docs/fine-tuning.md": (IMPORT_CREMAD,),
}
"""Page -> the commands of other pages it starts from (docs/cli/import.md's imports, docs/cli/train.md's run
``runs/ar``), run before the page's own and listed as setup."""
NOT_RUN: dict[str, str] = {}
"""Pages with commands that no test runs yet, and why (their verbs, flags and recipes are checked)."""

FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"^<!--\s*(needs|file|regenerate):\s*(.*?)\s*-->$")


@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced block of a page: its language, first line number (1-based, the fence), text and the mark on the
    line before it (``needs`` or ``file``, with its text)."""

    page: str
    line: int
    language: str
    text: str
    mark: tuple[str, str] | None

    @property
    def commands(self) -> list[list[str]]:
        """The block's commands split as a shell would: ``\\`` continuations joined, comments and blank lines left
        out."""
        joined = re.sub(r"\\\n", " ", self.text)
        return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def blocks(page: str, text: str) -> list[Block]:
    """The fenced blocks of a page's Markdown ``text`` in order, each with the ``needs`` / ``file`` mark written on
    the last non-blank line before its fence.

    Raises:
        ValueError: a fence is never closed (naming the page and line).
    """
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        before = next((line.strip() for line in reversed(lines[:i]) if line.strip()), "")
        mark = MARK.match(before)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{page}, line {i + 1}: the fenced block is never closed")
        body = "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(page, i + 1, opened.group(1), body, (mark.group(1), mark.group(2)) if mark else None))
        i = end + 1
    return found


def page_blocks(page: str) -> list[Block]:
    return blocks(page, (ROOT / page).read_text(encoding="utf-8"))


RUNS = sorted(page for page in PAGES if page not in {*NOT_RUN, "docs/corpora.md"} and any(
    block.language == "bash" and block.mark is None and block.commands for block in page_blocks(page)))  # fmt: skip
"""The pages run by :func:`test_the_page_runs_as_written`: every page with commands in unmarked blocks, but
docs/corpora.md (its own test) and :data:`NOT_RUN`."""


def unmarked_foreign_commands(page: str) -> list[str]:
    """``page, line: command`` for every command of a bash block without a ``needs`` mark that is not ``voxpop``."""
    return [f"{b.page}, line {b.line}: {shlex.join(c)}" for b in page_blocks(page)
            if b.language == "bash" and b.mark is None for c in b.commands if c[0] != "voxpop"]  # fmt: skip


# ------------------------------------------------------------------------------------------------ the extraction
EXAMPLE = """# A page

```bash
voxpop import long DATA/x.csv \\
    --out corpora/x   # a comment after the command
# a comment line

voxpop train corpora/x --labels mr --out runs/x
```

<!-- file: r.yaml -->
```yaml
study: r
```

<!-- needs: the full release -->

```bash
curl -O https://example.org/release.zip
```

```text
voxpop not-a-command
```
"""


def test_blocks_join_continuations_drop_comments_and_carry_their_marks():
    found = blocks("example.md", EXAMPLE)
    assert [(b.line, b.language, b.mark) for b in found] == [
        (3, "bash", None), (12, "yaml", ("file", "r.yaml")), (18, "bash", ("needs", "the full release")),
        (22, "text", None),
    ]  # fmt: skip
    assert found[0].commands == [
        ["voxpop", "import", "long", "DATA/x.csv", "--out", "corpora/x"],
        ["voxpop", "train", "corpora/x", "--labels", "mr", "--out", "runs/x"],
    ]
    assert found[1].text == "study: r\n"
    with pytest.raises(ValueError, match=r"example.md, line 2: the fenced block is never closed"):
        blocks("example.md", "x\n```bash\nvoxpop run r.yaml\n")


# ------------------------------------------------------------------------------------------------ fast checks
LAUNCHERS = {"srun"}
"""Commands that run the command after them (a Slurm step); the voxpop command they launch is checked too."""


def voxpop_words(words: list[str]) -> list[str]:
    """A command with its launcher (``srun ...``) left out, so ``srun voxpop train ...`` is checked as
    ``voxpop train ...``; any other command unchanged."""
    if words[0] in LAUNCHERS and "voxpop" in words:
        return words[words.index("voxpop") :]
    return words


def link_checkout(folder: Path) -> None:
    """Link the checkout's ``recipes/`` and ``docs/`` into a page's working folder, as docs/regenerate.py does, so
    ``voxpop run recipes/...`` and ``python docs/slice.py`` run as written there."""
    for name in ("recipes", "docs"):
        if not (folder / name).exists():
            (folder / name).symlink_to(ROOT / name)


def _click_command(words: list[str]) -> tuple[object, list[str]]:
    """The click command a ``voxpop ...`` command line reaches, and the words after its name."""
    from voxpop.cli.app import load_verb
    from voxpop.cli.verbs import VERBS

    if len(words) > 1 and words[1] in VERBS:
        load_verb(words[1])  # verb modules are imported when their verb runs
    command, rest = typer.main.get_command(voxpop.cli.app), words[1:]
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def _flags(command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_voxpop_command_names_a_verb_and_flags_it_has(page):
    """Quick: a renamed verb or flag fails here without running anything (also in blocks a run skips)."""
    problems = []
    for block in page_blocks(page):
        for words in block.commands if block.language == "bash" else []:
            words = voxpop_words(words)
            if words[0] != "voxpop":
                continue
            command, rest = _click_command(words)
            if hasattr(command, "commands"):
                problems.append(f"line {block.line}: {shlex.join(words)}: no verb {rest[:1]} under {words[1:2]}")
                continue
            unknown = sorted({w.split("=")[0] for w in rest if w.startswith("--")} - _flags(command))
            if unknown:
                problems.append(f"line {block.line}: {shlex.join(words)}: no flag {', '.join(unknown)}")
    assert not problems, "\n".join(problems)


def test_every_page_with_commands_is_run_or_listed_as_not_run():
    """A page whose unmarked blocks hold commands is run (:data:`RUNS`, docs/corpora.md) or named in
    :data:`NOT_RUN` with the reason, which is printed; none is left out silently, no entry is stale."""
    with_commands = {page for page in PAGES for block in page_blocks(page)
                     if block.language == "bash" and block.mark is None and block.commands}  # fmt: skip
    assert with_commands == {*RUNS, *NOT_RUN, "docs/corpora.md"} and not set(RUNS) & set(NOT_RUN)
    print("\n".join(["", "pages not run:", *(f"  {page}: {why}" for page, why in NOT_RUN.items())]))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_commands_are_in_bash_blocks(page):
    """A fenced block without a language that starts with a ``voxpop`` command is a command block written without
    its ``bash`` tag, which no run would see; help and output blocks are ``text``."""
    untagged = [b.line for b in page_blocks(page) if b.language == "" and b.text.lstrip().startswith("voxpop ")]
    assert not untagged, f"{page}: blocks of commands without ```bash at lines {untagged}"


def regenerated_commands(page: str) -> set[str]:
    """The commands that docs/regenerate.py runs for ``page``: those of its ``<!-- run ... -->`` blocks, each
    without its redirection (``> /dev/null``) and comment, split and joined as a shell would."""
    regenerate = _regenerate()
    text = (ROOT / page).read_text(encoding="utf-8")
    found = [m.group("commands") for pattern in (regenerate.RUN, regenerate.MARKDOWN) for m in pattern.finditer(text)]
    return {shlex.join(words[: words.index(">")] if ">" in words else words)
            for commands in found for words in Block(page, 0, "bash", commands, None).commands}  # fmt: skip


def _regenerate():
    spec = importlib.util.spec_from_file_location("regenerate", ROOT / "docs" / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", sorted(PAGES))
def test_only_marked_blocks_hold_commands_other_than_voxpop(page):
    """A block the run skips carries ``<!-- needs: WHAT -->`` naming what it needs, or ``<!-- regenerate: PAGE -->``
    when docs/regenerate.py runs each of its commands (a ``<!-- run ... -->`` block of PAGE, on the real data);
    none is skipped silently."""
    assert not unmarked_foreign_commands(page)
    for block in page_blocks(page):
        if block.mark is not None:
            kind, what = block.mark
            assert what, f"{page}, line {block.line}: an empty {kind} mark"
            assert (kind, block.language) in {("needs", "bash"), ("file", "yaml"), ("regenerate", "bash")}, (
                page, block.line, block.mark)  # fmt: skip
            if kind == "regenerate":  # run by docs/regenerate.py on the real data: it must run each command
                missing = {shlex.join(c) for c in block.commands} - regenerated_commands(what)
                assert not missing, f"{page}, line {block.line}: not run by docs/regenerate.py for {what}: {missing}"


def _sets(words: list[str]) -> list[str]:
    """The values of ``--set`` in a command (``--set K=V`` and ``--set=K=V``)."""
    given = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--set"]
    return given + [word.removeprefix("--set=") for word in words if word.startswith("--set=")]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_recipe_the_page_runs_is_valid(page, tmp_path, monkeypatch):
    """Quick: the recipe files a page writes, with the ``--set`` overrides of its ``voxpop run`` commands, pass the
    recipe schema (a renamed key fails here without running anything)."""
    from voxpop.study import load_recipe

    monkeypatch.chdir(tmp_path)
    link_checkout(tmp_path)
    runs = 0
    for block in page_blocks(page):
        if block.language == "yaml" and block.mark is not None and block.mark[0] == "file":
            (tmp_path / block.mark[1]).write_text(block.text)
        for words in block.commands if block.language == "bash" and block.mark is None else []:
            if words[:2] == ["voxpop", "run"] and not words[2].startswith("runs/"):  # runs/: written by the page
                load_recipe(words[2], _sets(words))
                runs += 1
    if page == "docs/corpora.md":
        assert runs == 2  # counted on the page: MSP-Podcast 1, Hugging Face 1


# ------------------------------------------------------------------------------------------------ running a page
def expand(words: list[str]) -> list[str]:
    """The words with each wildcard pattern (``DATA/clips/*.wav``) replaced by the sorted paths it matches, as bash
    expands them (a pattern that matches nothing stays as written)."""
    return [path for word in words
            for path in ((sorted(glob.glob(word)) or [word]) if any(c in word for c in "*?[") else [word])]  # fmt: skip


def invoke(words: list[str], where: str) -> None:
    """Run one ``voxpop ...`` command in-process, its wildcards expanded (:func:`expand`); a non-zero exit fails the
    test, naming ``where`` and the output."""
    result = CliRunner().invoke(voxpop.cli.app, expand(words)[1:], env={"COLUMNS": "200"})
    assert result.exit_code == 0, f"{where}\n{result.output}\n{result.exception!r}"


def run_page(page: str, folder: Path) -> tuple[list[str], list[str]]:
    """Build the page's ``DATA/`` in ``folder``, run the commands of other pages it starts from (:data:`SETUP`),
    then run its blocks in order there (the caller's working folder).

    Returns:
        The commands run and the commands skipped (each ``line N: command``, skipped ones with what they need).
    """
    docs_inputs.build(folder / "DATA", PAGES[page])
    link_checkout(folder)
    for command in SETUP.get(page, ()):
        invoke(shlex.split(command), f"{page}, setup: {command}")
    ran, skipped = [f"setup: {command}" for command in SETUP.get(page, ())], []
    for block in page_blocks(page):
        if block.language == "yaml" and block.mark is not None and block.mark[0] == "file":
            (folder / block.mark[1]).write_text(block.text)
            ran.append(f"line {block.line}: (wrote {block.mark[1]})")
            continue
        if block.language != "bash":
            continue
        for words in block.commands:
            shown = f"line {block.line}: {shlex.join(words)}"
            if block.mark is not None:
                kind, what = block.mark
                skipped.append(f"{shown}   [{'needs ' + what if kind == 'needs' else 'run by docs/regenerate.py'}]")
                continue
            invoke(words, f"{page}, {shown}")
            ran.append(shown)
    print(f"\n{page}: ran {len(ran)}, skipped {len(skipped)}")
    print("\n".join([*(f"  ran      {c}" for c in ran), *(f"  skipped  {c}" for c in skipped)]))
    return ran, skipped


def _predicted(run: Path) -> pd.DataFrame:
    from voxpop.models.saved_runs import load_run

    return load_run(run).predictions


@pytest.mark.slow
def test_the_corpora_page_runs_as_written(tmp_path, monkeypatch):
    """Every command of docs/corpora.md on the builders' inputs; then what the page says of the results, counted by
    hand from tests/docs_inputs.py."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOXPOP_FEATURE_STORE", str(tmp_path / "feature-store"))
    ran, skipped = run_page("docs/corpora.md", tmp_path)
    assert [c.split(": ", 1)[1] for c in skipped] == [
        "git clone https://github.com/emo-box/EmoBox DATA/EmoBox   [needs network access to github.com (the EmoBox "
        "checkout)]"
    ]
    # counted on the page: CREMA-D 4, RAVDESS 2, IEMOCAP 3, MSP-Podcast 3 (+ its recipe), MSP-IMPROV 2, CMU-MOSEI 2,
    # EmoDB 2, ESD 2, MELD 3, EmoBox 2, Hugging Face 2 (+ its recipe)
    assert len(ran) == 27 + 2 and sum(c.endswith(".yaml)") for c in ran) == 2
    from voxpop import Corpus

    # CREMA-D: 5 folds, each testing its own speaker's 4 clips; the per-rater import drops rater 9003's 4 slow answers
    crema = _predicted(tmp_path / "runs" / "crema-d")
    assert len(crema) == 20 and (crema["fold"].str[-1].astype(int) == crema.index.str[3].astype(int)).all()
    raters = Corpus.load(tmp_path / "corpora" / "crema-d-raters")
    assert len(raters.ratings[raters.ratings["slot"].eq("primary")]) == 60 - 4
    # MSP-Podcast: one run (and its recipe) scores the 4 Test1 and the 4 Test2 files, each test set apart
    msp = Corpus.load(tmp_path / "corpora" / "msp-podcast").items["split"]
    for run in ("msp-podcast", "msp-podcast-recipe"):
        scored = _predicted(tmp_path / "runs" / run)
        assert sorted(scored.index) == sorted(msp.index[msp.isin(["Test1", "Test2"])])
        results = pd.read_parquet(tmp_path / "runs" / run / "results.parquet")
        n_items = results[results["metric"].eq("uar")].groupby("group")["n_items"].first().to_dict()
        assert n_items == {"all": 8, "split=Test1": 4, "split=Test2": 4}
    # IEMOCAP: one fold per session; EmoBox's IEMOCAP: one fold per fold file
    assert sorted(_predicted(tmp_path / "runs" / "iemocap-4class")["fold"].unique()) == [
        f"session=Ses0{s}" for s in range(1, 6)
    ]
    assert sorted(_predicted(tmp_path / "runs" / "iemocap-emobox")["fold"].unique()) == [
        f"emobox_fold_{k}" for k in range(1, 6)
    ]
    # MELD: the release's ids restart per split, the prefix keeps train 0_0 and dev 0_0 apart
    meld = Corpus.load(tmp_path / "corpora" / "meld-csv").items.index
    assert sorted(meld) == ["dev_0_0", "dev_0_1", "train_0_0", "train_0_1", "train_1_0"]
    # Hugging Face: the test split's 4 rows are scored
    assert len(_predicted(tmp_path / "runs" / "emotions-hf")) == 4


STUDY3 = "voxpop run recipes/3-aggregation-rules.yaml --out study3"
DEMO = "voxpop demo --out voxpop-demo"
"""docs/cli/demo.md's command: study 3 (the packaged copy of recipes/3-aggregation-rules.yaml) on the small demo
corpus, that is :data:`STUDY3` written to ``voxpop-demo``."""
STUDY3_PAGES = {"docs/cli/run.md": STUDY3, "docs/recipes.md": STUDY3, "docs/scaling.md": STUDY3,
                "docs/cli/demo.md": DEMO}  # fmt: skip
"""Pages that run study 3 on its demo corpus among their commands -> that command (its ``--out`` folder is the
copy's): each starts from a copy of one finished ``study3`` folder (:func:`finished_study3`), so the study is
computed once per test session, not once per page; the page's commands still all run, as a user's second run of
them would (the stage cache reuses every stage whose inputs are the same)."""


def test_the_demo_command_is_study3():
    """Quick: docs/cli/demo.md may start from the finished :data:`STUDY3` (:data:`STUDY3_PAGES`) because ``voxpop
    demo`` runs the very same recipe: its packaged aggregation-rules recipe with ``--size small`` (the default)
    loads equal to the checkout's recipes/3-aggregation-rules.yaml, and a changed setting would not."""
    from voxpop.cli.study_verbs import demo_recipe
    from voxpop.study import load_recipe

    checkout = load_recipe(ROOT / "recipes" / "3-aggregation-rules.yaml", [])
    assert load_recipe(demo_recipe(), ["corpus.demo.size=small"]) == checkout
    assert load_recipe(demo_recipe(), ["corpus.demo.size=tiny"]) != checkout
    command, _ = _click_command(["voxpop", "demo"])
    assert {param.name: param.default for param in command.params}["size"] == "small"  # `voxpop demo` = --size small


@pytest.fixture(scope="session")
def finished_study3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``study3`` folder of :data:`STUDY3` run in a folder of its own (its own feature store), once per test
    session (:func:`session_once.built_once`: the first worker to ask runs it, the others wait and copy it)."""

    def build(folder: Path) -> None:
        link_checkout(folder)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(folder)
            patch.setenv("VOXPOP_FEATURE_STORE", str(folder / "feature-store"))
            patch.setenv("VOXPOP_MAX_WORKERS", "4")
            invoke(shlex.split(STUDY3), f"session setup: {STUDY3}")

    return built_once(tmp_path_factory, "finished-study3", build) / "study3"


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNS)
def test_the_page_runs_as_written(page, tmp_path, monkeypatch, request):
    """Every command of the page, in order, on the builders' inputs after its :data:`SETUP` (and, for
    :data:`STUDY3_PAGES`, a copy of the finished study 3); what it writes is checked where the page states it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOXPOP_FEATURE_STORE", str(tmp_path / "feature-store"))
    monkeypatch.setenv("VOXPOP_MAX_WORKERS", "4")  # the pages' --workers 4 on a smaller machine (recipes.md#ceilings)
    if page in STUDY3_PAGES:
        study3 = shlex.split(STUDY3_PAGES[page])  # the page computes the copied study itself (--workers N at most)
        same = {"--workers", "1", "2", "4", "--size", "small"}  # flags that change no stage's result
        assert any(c[: len(study3)] == study3 and set(c[len(study3) :]) <= same
                   for b in page_blocks(page) if b.language == "bash" for c in b.commands), page  # fmt: skip
        out = study3[study3.index("--out") + 1]
        shutil.copytree(request.getfixturevalue("finished_study3"), tmp_path / out, symlinks=True)
        print(f"\nsetup: {out} copied from the session's run of: {STUDY3}")
    ran, _ = run_page(page, tmp_path)
    assert ran
    if page == "docs/cli/mlcm.md":  # a run directory gives the matrix of its pooled out-of-fold predictions file
        from voxpop.models.saved_runs import load_run

        stage_file = load_run(tmp_path / "runs" / "ar", "mlp").directory / "predictions.parquet"
        invoke(["voxpop", "mlcm", "labels/ar-test.parquet", str(stage_file), "--out", "direct.csv"], page)
        by_run, direct = pd.read_csv(tmp_path / "mlcm.csv"), pd.read_csv(tmp_path / "direct.csv")
        pd.testing.assert_frame_equal(by_run, direct)
        assert by_run.drop(columns=["true", "group"]).to_numpy().sum() >= 20  # 20 clips, each at least once
    if page == "docs/cli/fuse.md":  # the other tool's GroupKFold folds are the run's; the last fusion is 3 : 1
        weights = pd.read_csv(tmp_path / "weights.csv")
        assert sorted(weights["fold"].unique()) == [f"fold{k}" for k in range(1, 6)]
        assert sorted(weights["model"].unique()) == ["audio:logreg", "audio:mlp", "video_oof"]
        from voxpop.evaluation import load_predictions
        from voxpop.models import find_runs

        runs = find_runs(tmp_path / "runs" / "dims")
        mse, ccc = (runs[name].predictions.drop(columns="fold") for name in ("loss=mse", "loss=ccc"))
        fused = load_predictions(tmp_path / "fused.parquet").table.drop(columns="fold", errors="ignore")
        pd.testing.assert_frame_equal(fused.loc[mse.index, mse.columns], 0.75 * mse + 0.25 * ccc, check_names=False)
