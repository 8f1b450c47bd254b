"""``voxpop run RECIPE.yaml`` and ``voxpop demo``: run a study recipe end to end (thin wrappers of voxpop.study.run)."""

from __future__ import annotations

import contextlib
import importlib.resources
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console
from voxpop.cli.progress_display import PROGRESS_HELP, progress_mode, progress_reporter
from voxpop.core.errors import ConfigError
from voxpop.core.limits import check_ceiling

if TYPE_CHECKING:  # the study runner imports torch: only inside the verbs, so 'voxpop --help' stays fast
    from voxpop.study.run import StudyRun

DEMO_RECIPE = "3-aggregation-rules.yaml"


def print_summary(run: StudyRun) -> None:
    """The headline metric of every (variant, train, test) cell, and where the files are."""
    from voxpop.core.formatting import format_ci, metric_name
    from voxpop.evaluation.chance import direction
    from voxpop.evaluation.partitions import is_partition_group
    from voxpop.report.naming import HEADERS

    metric = next((m for m in run.recipe.evaluation.metrics if m in set(run.results["metric"])), None)
    if metric is not None:
        groups = run.results["group"]
        shown = groups.eq("all") | groups.map(is_partition_group).astype(bool)  # and each test partition (split=)
        rows = run.results[shown & run.results["metric"].eq(metric)]
        chance = bool(rows["chance"].notna().any())  # none for the regression metrics of dimensional studies
        parts = ["group"] if rows["group"].ne("all").any() else []
        table = Table(title=f"{run.recipe.study}: {metric_name(metric)} [95 % CI], {direction(metric)} is better")
        for column in ("variant", "train", "test", *parts, metric, *(["chance"] if chance else []), "n_items"):
            numeric = column in (metric, "chance", "n_items")
            header = metric_name(column) if column == metric else HEADERS.get(column, column)
            table.add_column("test partition" if column == "group" else header, justify="right" if numeric else "left")
        for row in rows.itertuples(index=False):
            cells = (format_ci(row.value, row.low, row.high), *([format_ci(row.chance)] if chance else []))
            table.add_row(row.variant, row.train, row.test, *([row.group] if parts else []), *cells, f"{row.n_items:,}")
        console.print(table)
        if chance:
            console.print(
                "chance: a predictor drawing classes with the test items' class frequencies (KLD / JSD: the "
                "training labels' mean distribution)",
                style="dim",
                highlight=False,
            )
    print_cautions(run)
    console.print(
        f"stages run: {len(run.executed)}, reused from the cache: {len(run.reused)}\n"
        f"results: [bold]{run.out_dir / 'results.parquet'}[/]\nreport:  [bold]{run.out_dir / 'report.html'}[/] "
        f"(and report.md)",
        highlight=False,
    )


def print_headline(run: StudyRun) -> None:
    """The report's headline (:func:`voxpop.report.headline.study_headline`): the question, the best model per test
    set with its interval and chance, and the warnings that change how to read it; the last block that ``voxpop
    run`` and ``voxpop train`` print."""
    from voxpop.report.headline import study_headline

    headline = study_headline(run)
    console.print(f"\n[bold]Question:[/] {escape(headline.question)}", highlight=False)
    if headline.best.empty:
        console.print("no model was scored", highlight=False)
        return
    shown = headline.table()
    table = Table(title="Answer: the best model per test label set", title_justify="left")
    for column in shown.columns:
        numeric = "[" in column or column in ("chance", "items", "models compared", "raters' ceiling")
        table.add_column(escape(column), justify="right" if numeric else "left")
    for row in shown.astype(object).itertuples(index=False):
        table.add_row(*(f"{cell:,}" if isinstance(cell, int) else escape(str(cell)) for cell in row))
    console.print(table)
    for line in headline.warnings:
        console.print(f"[yellow]read with care:[/] {escape(line)}", highlight=False)
    if headline.more:
        console.print(f"{headline.more} more warnings above", highlight=False)


def print_cautions(run=None, messages: list[str] | None = None) -> None:
    """The cautions of a finished :class:`voxpop.study.run.StudyRun` (:func:`voxpop.report.cautions.study_cautions`), or
    the given ``messages``, one ``warning:`` line each: what every verb that trains or evaluates prints (run,
    train, evaluate)."""
    from voxpop.report import format_cautions, study_cautions

    for line in format_cautions(study_cautions(run) if messages is None else messages):
        console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)


WORKERS_HELP = (
    "Worker processes running independent stages at once (Dask LocalCluster); 1: in this process, without Dask."
)


def resolve_workers(workers: int | None) -> int:
    """``--workers`` as given, or the default: usable cores capped by free memory (:mod:`voxpop.study.scheduler`)."""
    if workers is not None:
        if workers < 1:
            raise typer.BadParameter(f"--workers must be at least 1, got {workers}")
        check_ceiling("workers", workers, "--workers")
        return workers
    from voxpop.core.cluster import default_workers

    return default_workers()


def print_plan(rows: list[dict]) -> None:
    """The ``--dry-run`` table: every stage, cached or pending, and where it would run."""
    table = Table(title="plan (nothing was computed)")
    for column in ("stage", "kind", "status", "where"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["stage"], row["kind"], row["status"], row["where"])
    console.print(table)
    pending = sum(row["status"] == "pending" for row in rows)
    console.print(f"{len(rows)} stages: {len(rows) - pending} cached, {pending} pending", highlight=False)


def run_study(
    loaded,
    out: Path,
    source: str,
    workers: int,
    scheduler: str | None,
    security,
    threads: int,
    dry_run: bool,
    allow_outside_paths: bool = False,
    progress: str = "rich",
    cluster=None,
) -> None:
    """Run (or with ``dry_run`` only plan) a loaded recipe (read from file ``source``) into ``out`` and print the
    summary; ``cluster``: a ``--cluster`` profile (:class:`voxpop.study.cluster_profile.ClusterProfile`) to run on
    instead of ``workers`` / ``scheduler`` (a batch profile's ``--dry-run`` prints its job script first).

    Before any work: ``--threads`` against its ceiling and the recipe's paths against the recipe's folder, ``out``
    and the feature store (:func:`voxpop.study.recipe_paths.check_recipe_paths`; ``allow_outside_paths`` lifts it).
    ``progress``: the display (:func:`voxpop.cli.progress_display.progress_mode`).
    With several workers or a scheduler the cluster is connected first, so its workers import voxpop
    while this process does."""
    from voxpop.core.cluster import connect
    from voxpop.study.definition import build_study
    from voxpop.study.recipe_paths import check_recipe_paths

    check_ceiling("threads", threads, "--threads")
    check_recipe_paths(loaded, source, out, allow_outside_paths)  # before anything is read: the Study hashes files
    study = build_study(loaded, out, source)
    if dry_run:
        from voxpop.study import dry_run as planned
        from voxpop.study.cluster_profile import BATCH_KINDS, job_script

        place = scheduler
        if cluster is not None and cluster.kind != "local":
            place = cluster.address if cluster.kind == "scheduler" else cluster.describe()
        if cluster is not None and cluster.kind in BATCH_KINDS:
            console.print(f"job script ({cluster.kind}, one per job):", highlight=False)
            console.print(job_script(cluster), markup=False, highlight=False)
        print_plan(planned(study, out, cluster.workers if cluster and cluster.kind == "local" else workers, place))
        return
    from voxpop.labels.overwrite import existing_outputs, replaced_note

    replaced = existing_outputs(out)
    with contextlib.ExitStack() as stack:
        client = None
        if cluster is not None:
            from voxpop.study.cluster_profile import connect_profile

            client = stack.enter_context(connect_profile(cluster, security))
        elif workers > 1 or scheduler is not None:
            client = stack.enter_context(connect(workers, scheduler, security, preload=True))
        from voxpop.report import write_study_report
        from voxpop.study import run_recipe

        with progress_reporter(progress) as reporter:
            result = run_recipe(
                study,
                out,
                reporter=reporter,
                workers=workers,
                scheduler=scheduler,
                security=security,
                threads=threads,
                client=client,
                on_run=write_study_report,
            )
    print_summary(result)
    if replaced:
        console.print(escape(replaced_note(out, replaced)), highlight=False)
    print_headline(result)


@app.command()
def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML file (see recipes/ and docs/recipes.md)."),
    out: Path = typer.Option(None, "--out", help="Output directory (default: runs/<study name>)."),
    set_: list[str] = typer.Option(
        None,
        "--set",
        help="Override a recipe key: --set KEY.PATH=VALUE, e.g. --set model.epochs=5 (values are read as YAML).",
    ),
    workers: int = typer.Option(None, "--workers", help=WORKERS_HELP + " Default: usable cores, ~1 GB free each."),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="Run on an existing Dask cluster (tcp://HOST:PORT or tls://...) whose workers see --out. "
        "Only clusters you control: it runs the code voxpop sends.",
    ),
    cluster: Path = typer.Option(
        None,
        "--cluster",
        help="Run on the cluster a YAML profile describes (kind: local, scheduler, slurm, pbs or sge; docs/cluster.md);"
        " not with --workers or --scheduler.",
    ),
    tls_ca_file: Path = typer.Option(None, "--tls-ca-file", help="--scheduler over TLS: the CA certificate (PEM)."),
    tls_cert: Path = typer.Option(None, "--tls-cert", help="--scheduler over TLS: this client's certificate (PEM)."),
    tls_key: Path = typer.Option(None, "--tls-key", help="--scheduler over TLS: this client's private key (PEM)."),
    threads: int = typer.Option(1, "--threads", min=1, help="CPU threads of every stage (torch, BLAS), any mode."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (cached / pending, where) and stop."),
    allow_outside_paths: bool = typer.Option(
        False,
        "--allow-outside-paths",
        help="Let the recipe use paths (features.store, label files, fusion predictions) outside its own folder, "
        "--out and the feature store.",
    ),
    progress: str = typer.Option(None, "--progress", help=PROGRESS_HELP),
) -> None:
    """Run a study recipe: every stage once (cached, resumable), then results.parquet and report.html."""
    from voxpop.core.cluster import security_from_files
    from voxpop.study import load_recipe

    profile = None
    if cluster is not None:
        from voxpop.study.cluster_profile import load_profile

        given = [flag for flag, value in (("--workers", workers), ("--scheduler", scheduler)) if value is not None]
        if given:
            raise ConfigError(
                f"--cluster {cluster} and {' and '.join(given)} both say where stages run; give one (the profile's "
                "kind local takes workers, kind scheduler an address)"
            )
        profile = load_profile(cluster)
    loaded = load_recipe(recipe, set_ or [])
    security = security_from_files(tls_ca_file, tls_cert, tls_key)
    count = 1 if scheduler or profile else resolve_workers(workers)
    out = out or Path("runs") / loaded.study
    mode = progress_mode(progress)
    run_study(
        loaded, out, str(recipe), count, scheduler, security, threads, dry_run, allow_outside_paths, mode, profile
    )


def demo_recipe() -> Path:
    """The aggregation-rules recipe shipped with the package (``recipes/`` in a checkout)."""
    return Path(str(importlib.resources.files("voxpop") / "recipes" / DEMO_RECIPE))


@app.command()
def demo(
    out: Path = typer.Option(Path("voxpop-demo"), "--out", help="Output directory (corpus, cache, report)."),
    size: str = typer.Option("small", "--size", help="Demo corpus size: small (384 clips) or tiny (48 clips)."),
    recipe: Path = typer.Option(None, "--recipe", help=f"Recipe to run instead of recipes/{DEMO_RECIPE}."),
    workers: int = typer.Option(1, "--workers", help=WORKERS_HELP),
    progress: str = typer.Option(None, "--progress", help=PROGRESS_HELP),
) -> None:
    """Build the synthetic demo corpus and run the aggregation-rules study (3) on it, on CPU: report.html."""
    from voxpop.study import load_recipe

    path = recipe or demo_recipe()
    loaded = load_recipe(path, [f"corpus.demo.size={size}"] if size else [])
    run_study(loaded, out, str(path), resolve_workers(workers), None, None, 1, False, progress=progress_mode(progress))
