"""Feature extraction speed and memory on RAVDESS (1,440 clips, 16 kHz FLAC).

Prints real-time factors (compute seconds per second of audio, model loading and process start-up
included) for openSMILE eGeMAPSv02 and ComParE_2016 with 1 and 2 workers, the log-mel filterbank,
and a base-size randomly initialised WavLM on CPU; then the peak resident memory of a fresh
process extracting 100, 400 and 1,440 clips, which must stay flat (audio is streamed shard by shard
and the store is consolidated through a memory map).

    python benchmarks/features_bench.py [--data DIR] [--clips N] [--wavlm-clips N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from voxpop.corpus.corpus import Corpus
from voxpop.features import fill_store, make_extractor

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the checkout
DEFAULT_DATA = Path(os.environ.get("VOXPOP_SHARED_DATA", SHARED_DATA)) / "ravdess"


def ravdess_corpus(data: Path, count: int) -> Corpus:
    """The first ``count`` RAVDESS clips (spread over actors) as a corpus; no labels needed here."""
    files = sorted(data.rglob("*.flac"))
    if not files:
        raise SystemExit(f"no FLAC files under {data}")
    step = max(1, len(files) // count)
    chosen = files[::step][:count]
    items = pd.DataFrame({"audio": [str(p) for p in chosen]}, index=[p.stem for p in chosen])
    return Corpus("ravdess", items, pd.DataFrame({"item": [chosen[0].stem], "label": ["x"]}), ["x"])


def real_time_factor(corpus: Corpus, spec: str, **options) -> tuple[float, float, float]:
    """(real-time factor, audio seconds, wall seconds) of extracting ``corpus`` into a fresh store."""
    with tempfile.TemporaryDirectory() as store:
        started = time.perf_counter()
        report = fill_store(corpus, make_extractor(spec, **options), store)
        wall = time.perf_counter() - started
    return wall / report.audio_seconds, report.audio_seconds, wall


def base_wavlm(directory: Path) -> Path:
    """A randomly initialised WavLM of base size (12 layers, 768 dims) saved like a checkpoint."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    torch.manual_seed(0)
    WavLMModel(WavLMConfig(feat_extract_norm="layer", do_stable_layer_norm=False)).save_pretrained(directory)
    Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(directory)
    return directory


def resident_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since start or last reset) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(data: Path, count: int, spec: str) -> None:
    """Run in a fresh process: extract ``count`` clips, print RSS before and peak RSS during, in MiB."""
    corpus = ravdess_corpus(data, count)
    extractor = make_extractor(spec)
    extractor.layout()  # build lazily created processors before the baseline
    before = resident_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    with tempfile.TemporaryDirectory() as store:
        report = fill_store(corpus, extractor, store)
    print(f"{before:.1f} {resident_mib('VmHWM'):.1f} {report.audio_seconds:.1f}")


def peak_memory(data: Path, count: int, spec: str) -> tuple[float, float, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--data", str(data), "--memory-child", str(count), spec],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(output[0]), float(output[1]), float(output[2])


def speed(clips: int, wavlm_clips: int, data: Path) -> None:
    """Print the real-time factors of every extractor."""
    print(f"\nreal-time factors (wall s / audio s, lower is faster), {clips} clips unless noted")
    corpus = ravdess_corpus(data, clips)
    runs = [
        ("opensmile:eGeMAPSv02", 1),
        ("opensmile:eGeMAPSv02", 2),
        ("opensmile:ComParE_2016", 1),
        ("opensmile:ComParE_2016", 2),
        ("fbank", 1),
    ]
    for spec, workers in runs:
        rtf, audio, wall = real_time_factor(corpus, spec, workers=workers)
        print(f"  {spec:26s} workers={workers}  RTF {rtf:.4f}  ({audio:.0f} s audio in {wall:.1f} s)")
    with tempfile.TemporaryDirectory() as model_dir:
        subset = ravdess_corpus(data, wavlm_clips)
        rtf, audio, wall = real_time_factor(subset, f"ssl:{base_wavlm(Path(model_dir))}", device="cpu", batch_size=4)
        label = f"WavLM base (random), {wavlm_clips} clips"
        print(f"  {label:26s} batch=4    RTF {rtf:.4f}  ({audio:.0f} s audio in {wall:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="RAVDESS folder")
    parser.add_argument("--clips", type=int, default=160, help="clips for the openSMILE / fbank speed runs")
    parser.add_argument("--wavlm-clips", type=int, default=24, help="clips for the WavLM speed run")
    parser.add_argument(
        "--memory-specs", nargs="+", default=["fbank", "opensmile:eGeMAPSv02"], help="extractors for the memory runs"
    )
    parser.add_argument("--skip-speed", action="store_true", help="only the memory runs")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.data, args.memory_child, args.spec)
        return
    print(f"RAVDESS: {args.data}; {os.cpu_count()} CPUs")
    if not args.skip_speed:
        speed(args.clips, args.wavlm_clips, args.data)
    print("\nresident memory of a fresh process (MiB): before extraction -> peak during extraction")
    for spec in args.memory_specs:
        for count in (100, 400, 1440):
            before, peak, audio = peak_memory(args.data, count, spec)
            print(f"  {spec:26s} {count:5d} clips ({audio / 3600:.2f} h): {before:7.1f} -> {peak:7.1f}")


if __name__ == "__main__":
    main()
