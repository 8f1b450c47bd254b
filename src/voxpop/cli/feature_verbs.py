"""``voxpop features CORPUS --extractor SPEC``: fill the feature store and summarise (thin wrapper)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console, progress_bar
from voxpop.cli.corpus_verbs import WHERE_HELP, load_corpus
from voxpop.features import ExtractionReport, make_extractor
from voxpop.features.audio import REASONS, AudioOptions
from voxpop.features.base import parse_options
from voxpop.features.extraction import fill_store_on_workers, parse_shard
from voxpop.features.store_admin import default_store_root


@app.command()
def features(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet with an 'audio' column)."),
    extractor: str = typer.Option(
        ...,
        "--extractor",
        "-e",
        help="opensmile:eGeMAPSv02 | opensmile:ComParE_2016 | fbank | ssl:PATH_OR_HUB_ID",
    ),
    layers: int = typer.Option(None, help="ssl: keep hidden states 0..L (run only the first L transformer layers)."),
    max_seconds: float = typer.Option(None, help="Keep the first T seconds of each clip (see --crop)."),
    crop: str = typer.Option("head", help="With --max-seconds: 'head' (first T s) or 'random' (seeded window)."),
    min_seconds: float = typer.Option(0.1, help="Clips shorter than this are skipped or padded (--too-short)."),
    too_short: str = typer.Option("skip", help="Policy for clips under --min-seconds: 'skip' or 'pad'."),
    noise_dir: Path = typer.Option(None, help="Folder of noise files to add (needs --snr)."),
    snr: float = typer.Option(None, help="Signal-to-noise ratio in dB for --noise-dir."),
    seed: int = typer.Option(0, help="Seed for random crops and noise choices."),
    device: str = typer.Option(None, help="ssl: auto | cpu | cuda (default auto)."),
    workers: int = typer.Option(
        1, min=1, help="Worker processes sharing the shards (Dask LocalCluster, as 'voxpop run'); 1: this process."
    ),
    batch_size: int = typer.Option(None, help="ssl: clips per batch (sorted by length)."),
    shard: str = typer.Option("0/1", help="I/N: fill only shards s with s mod N == I (SLURM array: task/count)."),
    shard_size: int = typer.Option(64, help="Items per shard (fixed when the store entry is created)."),
    store: Path = typer.Option(
        None, help="Feature store root (default $VOXPOP_FEATURE_STORE, else the user's cache folder: voxpop store)."
    ),
    where: str = typer.Option(None, help=WHERE_HELP),
    option: list[str] = typer.Option(None, "--option", "-o", help="Extra extractor option KEY=VALUE (e.g. level=lld)."),
) -> None:
    """Extract features for every item into the resumable feature store, with progress and a summary."""
    loaded = load_corpus(corpus, where)
    options = parse_options(option or [])
    given = {"layers": layers, "device": device, "batch_size": batch_size}
    options.update({key: value for key, value in given.items() if value is not None})
    chosen = make_extractor(extractor, **options)
    audio = AudioOptions(
        sample_rate=chosen.sample_rate,
        max_seconds=max_seconds,
        crop=crop,
        min_seconds=min_seconds,
        too_short=too_short,
        noise_dir=None if noise_dir is None else str(noise_dir),
        snr_db=snr,
        seed=seed,
    )
    with progress_bar() as bar:
        label = extractor if len(extractor) <= 32 else "…" + extractor[-31:]
        task = bar.add_task(label, total=None)
        report = fill_store_on_workers(
            loaded,
            chosen,
            store,
            workers=workers,
            audio=audio,
            shard=parse_shard(shard),
            shard_size=shard_size,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    print_report(report, store or default_store_root())


def print_report(report: ExtractionReport, root: Path) -> None:
    """The extraction summary: items, hours of audio, real-time factor, skipped items and why."""
    table = Table(title=f"features: {report.extractor}", show_header=False)
    table.add_row("items", f"{report.items:,} ({report.extracted:,} extracted)")
    table.add_row("audio", f"{_hours(report.audio_seconds)} extracted")
    run = f"{report.computed_items:,} items, {_hours(report.computed_audio_seconds)} of audio"
    table.add_row("this run", f"{run} in {report.compute_seconds:.1f} s ({report.computed_shards} shards)")
    if report.computed_audio_seconds:
        table.add_row("real-time factor", f"{report.real_time_factor:.4f} (compute s per audio s)")
    status = "complete" if report.complete else f"{report.shards_remaining} of {report.shards} shards still missing"
    table.add_row("store", status)
    console.print(table)
    if report.skipped:
        skipped = Table(title=f"skipped items ({sum(report.skipped.values()):,})")
        for column in ("reason", "items", "meaning", "example"):
            skipped.add_column(column)
        for reason, count in sorted(report.skipped.items()):
            skipped.add_row(reason, f"{count:,}", REASONS.get(reason, ""), report.skipped_examples.get(reason, ""))
        console.print(skipped)
    if report.reused:
        console.print(f"features {escape(report.extractor)}: reused from {escape(str(report.path))}", highlight=False)
    console.print(f"store key [bold]{report.key}[/]\nstore entry {escape(str(report.path))}", highlight=False)
    if not report.complete:
        console.print(f"run the remaining shard processes to complete the store under {root}")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h ({seconds:,.0f} s)"
