"""voxpop.report.render and voxpop.report.plots: self-contained HTML, Markdown tables that parse back, deterministic
files,
figures whose bars / lines / cell texts match their input tables."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import multiprocessing
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.analysis import cross_test_matrix
from voxpop.report import matrix_plots, plots
from voxpop.report.markup import table_cells, with_ci
from voxpop.report.render import Report, figure_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EMOTIONS = ["neutral", "anger", "sadness", "happiness"]


# --------------------------------------------------------------------------------------------------
# Inputs shaped like the outputs of voxpop.agreement / evaluation / labels


def agreement_rows() -> pd.DataFrame:
    """Shaped like voxpop.agreement.tables.agreement_table: one alpha per (group, label), intervals optional."""
    return pd.DataFrame(
        {
            "group": ["acted"] * 4 + ["wild"] * 4,
            "label": EMOTIONS * 2,
            "value": [0.61, 0.42, 0.55, -0.05, 0.30, 0.22, 0.47, 0.12],
            "ci_low": [0.55, 0.35, 0.50, -0.12, 0.21, np.nan, 0.40, 0.05],
            "ci_high": [0.66, 0.49, 0.61, 0.02, 0.38, np.nan, 0.53, 0.20],
        }
    )


def sweep_curve() -> pd.DataFrame:
    t = np.round(np.arange(0.05, 1.0, 0.05), 2)
    curve = pd.DataFrame(
        {e: np.exp(-((t - c) ** 2) / 0.04) * 0.7 for e, c in zip(EMOTIONS, [0.2, 0.3, 0.35, 0.4], strict=True)},
        index=pd.Index(t, name="threshold"),
    )
    curve["mean"] = curve.mean(axis=1)
    return curve


def mlcm_counts() -> pd.DataFrame:
    values = np.array([[9, 1, 0, 2, 1], [2, 7, 1, 0, 3], [0, 2, 8, 1, 0], [1, 0, 0, 6, 2], [0, 1, 2, 0, 4]])
    return pd.DataFrame(
        values,
        index=pd.Index([*EMOTIONS, "(no true label)"], name="true"),
        columns=pd.Index([*EMOTIONS, "(no predicted label)"], name="predicted"),
    )


def cross_long() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    cells = {}
    for train in ["voice", "face", "av"]:
        for test in ["voice", "face", "av"]:
            y = rng.integers(0, 4, 120)
            cells[(train, test)] = (y, np.where(rng.random(120) < 0.6, y, rng.integers(0, 4, 120)))
    return cross_test_matrix(cells, metrics=("macro_f1", "uar"), n_boot=100, seed=0)


def fold_weights() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        rng.dirichlet(np.linspace(1, 4, 13), size=4).T,
        index=pd.Index(range(13), name="layer"),
        columns=[f"fold{k}" for k in range(1, 5)],
    )


def accounting_rows() -> pd.DataFrame:
    """Shaped like voxpop.labels.rules.accounting_table."""
    return pd.DataFrame(
        {
            "condition": ["voice"] * 3 + ["face"] * 3,
            "rule": ["mr", "pr", "ar"] * 2,
            "items_total": [100] * 6,
            "items_kept": [58, 80, 100, 65, 85, 100],
            "data_loss": [0.42, 0.20, 0.0, 0.35, 0.15, 0.0],
            "rating_loss": [0.55, 0.40, 0.01, 0.50, 0.35, 0.02],
        }
    )


TRICKY = pd.DataFrame(
    {"rule": ["<b>x</b>", "a|b", "R&D"], "macro_f1": [0.6234, 0.5, np.nan], "items": [120, 95, 3]},
)


def build_report(submit=None) -> tuple[Report, dict[str, pd.DataFrame], int]:
    """A report with every plot type and several kinds of table; (report, tables by name, number of figures)."""
    tables = {
        "metrics": pd.DataFrame(
            {"metric": ["uar", "macro_f1", "f1[sad]"], "value": [0.612, 0.587, 0.701], "items": [300, 300, 300]}
        ),
        "cross test": pd.DataFrame(
            [[0.61, 0.52], [0.48, 0.66]],
            index=pd.Index(["MR", "AR"], name="train"),
            columns=pd.Index(["MR", "AR"], name="test"),
        ),
        "tricky": TRICKY,
    }
    report = Report(
        "Study <3>: aggregation",
        subtitle="demo & tests",
        notice="The corpus is **synthetic**: no real speech & no real raters.",
        submit=submit,
    )
    agreement = report.add_section("Agreement", "Alpha per *emotion*.\n\n- acted\n- wild")
    agreement.add_table("metrics", tables["metrics"], caption="Single-label metrics")
    agreement.add_figure(
        "alpha", plots.agreement_bars(agreement_rows(), "value", "ci_low", "ci_high", "group", x="label")
    )
    agreement.add_figure("sweep", plots.threshold_curve(sweep_curve(), 0.3), caption="Threshold sweep")
    models = report.add_section("Models <script>alert(1)</script>")
    models.add_table("cross test", tables["cross test"], highlight="max").add_table("tricky", TRICKY)
    models.add_figure("mlcm", matrix_plots.heatmap(mlcm_counts(), "MLCM", normalize_rows=True))
    models.add_figure("cross", matrix_plots.cross_test_heatmap(cross_long(), "macro_f1"))
    models.add_figure("layers", plots.layer_weights(fold_weights(), "layer weights"))
    models.add_figure("loss", plots.loss_table_bars(accounting_rows()))
    models.add_text("Done: `a<b` and <i>not a tag</i>.")
    return report, tables, 6


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, pd.DataFrame], int]:
    report, tables, n_figures = build_report()
    html_path, md_path = report.write(tmp_path_factory.mktemp("report"))
    return html_path, md_path, tables, n_figures


class _Tables(HTMLParser):
    """Cell texts of every <table> plus every tag's attributes (to look for external references)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.attributes: list[tuple[str, dict]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.attributes.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_html(path: Path) -> _Tables:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def markdown_tables(text: str) -> list[pd.DataFrame]:
    """Every pipe table of a Markdown text, parsed by pandas (cells stay text)."""
    blocks = re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.MULTILINE)
    frames = []
    for block in blocks:
        lines = block.splitlines()
        del lines[1]  # the | :--- | ---: | delimiter row
        frames.append(
            pd.read_csv(
                io.StringIO("\n".join(lines)),
                sep=r"\s*(?<!\\)\|\s*",
                engine="python",
                dtype=str,
                keep_default_na=False,
            ).iloc[:, 1:-1]  # the empty fields outside the outer pipes
        )
    return frames


# --------------------------------------------------------------------------------------------------
# HTML


def test_html_is_one_self_contained_file(written):
    html_path, _, _, n_figures = written
    text = html_path.read_text(encoding="utf-8")
    parsed = parse_html(html_path)
    assert "<script" not in text and "<link" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text)
    sources = [a["src"] for tag, a in parsed.attributes if "src" in a]
    assert len(sources) == n_figures
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(a["href"].startswith("#") for _, a in parsed.attributes if "href" in a)  # only the contents links
    assert "<style>" in text


def test_html_images_are_the_written_pngs(written):
    html_path, _, _, _ = written
    sources = [a["src"] for tag, a in parse_html(html_path).attributes if tag == "img"]
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in sources]
    on_disk = [(html_path.parent / "figures" / f"{name}.png").read_bytes() for name in
               ["alpha", "sweep", "mlcm", "cross", "layers", "loss"]]  # fmt: skip
    assert embedded == on_disk
    assert all(png.startswith(PNG_SIGNATURE) for png in embedded)


def test_html_tables_hold_every_value(written):
    html_path, _, _, _ = written
    parsed = parse_html(html_path).tables
    assert len(parsed) == 3
    metrics, cross, tricky = parsed
    assert metrics[0] == ["metric", "value", "items"]
    assert metrics[1:] == [["uar", "0.612", "300"], ["macro_f1", "0.587", "300"], ["f1[sad]", "0.701", "300"]]
    assert cross == [["train \\ test", "MR", "AR"], ["MR", "0.610", "0.520"], ["AR", "0.480", "0.660"]]
    assert tricky[1:] == [["<b>x</b>", "0.623", "120"], ["a|b", "0.500", "95"], ["R&D", "–", "3"]]


def test_html_escapes_text_and_cells_and_shows_the_notice(written):
    text = written[0].read_text(encoding="utf-8")
    assert "<b>x</b>" not in text and "<td>&lt;b&gt;x&lt;/b&gt;</td>" in text
    assert "<td>R&amp;D</td>" in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<title>Study &lt;3&gt;: aggregation</title>" in text
    assert "<i>not a tag</i>" not in text and "<code>a&lt;b</code>" in text
    notice = re.search(r'<div class="notice"[^>]*>(.*?)</div>', text).group(1)
    assert "<strong>synthetic</strong>: no real speech &amp; no real raters." in notice
    assert text.index('class="notice"') < text.index("<section")  # a banner above everything else
    assert "<strong>0.610</strong>" in text and "<strong>0.660</strong>" in text  # highlight="max": column best
    assert "<strong>0.520</strong>" not in text and "<strong>0.480</strong>" not in text


# --------------------------------------------------------------------------------------------------
# Markdown


def test_markdown_tables_parse_back_to_the_inputs(written):
    _, md_path, tables, _ = written
    metrics, cross, tricky = markdown_tables(md_path.read_text(encoding="utf-8"))
    expected = tables["metrics"]
    assert list(metrics.columns) == list(expected.columns)
    pd.testing.assert_series_equal(metrics["metric"], expected["metric"].astype(str), check_dtype=False)
    np.testing.assert_allclose(metrics["value"].astype(float), expected["value"], atol=5e-4)
    np.testing.assert_array_equal(metrics["items"].astype(int), expected["items"])
    cross_in = tables["cross test"]
    assert cross.columns[0] == "train \\\\ test"  # the backslash escaped once in Markdown
    cross = cross.set_index(cross.columns[0]).replace(r"\*\*", "", regex=True).astype(float)  # bold = highlight
    np.testing.assert_allclose(cross.to_numpy(), cross_in.to_numpy(), atol=5e-4)
    assert list(cross.index) == list(cross_in.index) and list(cross.columns) == list(cross_in.columns)
    assert tricky["rule"].tolist() == ["&lt;b&gt;x&lt;/b&gt;", "a\\|b", "R&amp;D"]  # HTML and pipes escaped
    assert tricky["macro_f1"].tolist() == ["0.623", "0.500", "–"]


def test_markdown_links_the_figure_files_and_shows_the_notice(written):
    _, md_path, _, n_figures = written
    text = md_path.read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == n_figures
    for link in links:
        assert link.startswith("figures/") and (md_path.parent / link).read_bytes().startswith(PNG_SIGNATURE)
    assert "> **Notice:** The corpus is **synthetic**: no real speech &amp; no real raters." in text
    assert "# Study &lt;3&gt;: aggregation" in text and "`a<b`" in text  # code spans stay literal


# --------------------------------------------------------------------------------------------------
# Determinism


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_inputs_give_byte_identical_files(tmp_path, written):
    html_path, _, _, _ = written
    rebuilt, _, _ = build_report()
    rebuilt.write(tmp_path / "a")
    rebuilt.write(tmp_path / "b")
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second
    assert first == _files(html_path.parent)  # and a report built again from scratch
    assert len(first) == 2 + 6 * 2 + 3 * 2  # reports, PNG + PDF per figure, LaTeX + CSV per table


def test_tables_are_also_latex_and_csv_with_the_same_cells(written):
    html_path, _, _, _ = written
    tables = html_path.parent / "tables"
    cross_csv = (tables / "cross-test.csv").read_text(encoding="utf-8").splitlines()
    assert cross_csv == ["train \\ test,MR,AR", "MR,0.610,0.520", "AR,0.480,0.660"]
    tex = (tables / "cross-test.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "\\label{tab:cross-test}" in tex
    assert "train \\textbackslash{} test & MR & AR \\\\" in tex


def test_latex_tables_compile_with_pdflatex(written, tmp_path):
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (Debian: texlive-latex-base, texlive-latex-recommended)")
    tables = sorted((written[0].parent / "tables").glob("*.tex"))
    body = "\n".join(f"\\input{{{t.as_posix()}}}" for t in tables)
    document = tmp_path / "doc.tex"
    document.write_text(f"\\documentclass{{article}}\n\\usepackage{{booktabs}}\n\\begin{{document}}\n{body}\n"
                        "\\end{document}\n")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "doc.pdf").is_file()


def test_figures_submitted_as_they_are_added_render_elsewhere_to_the_same_files(tmp_path, monkeypatch):
    """A report with ``submit`` (a Dask client's, here a process pool's) starts each figure's rendering when the
    figure is added, while the report is still being built: every figure pickled to another process and
    rendered there; the files equal those rendered in this process."""
    import voxpop.report.render

    local, _, n_figures = build_report()
    submitted = []
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:

        def submit(function, figure):
            submitted.append(future := pool.submit(function, figure))
            return future

        remote = build_report(submit)[0]
        assert len(submitted) == n_figures  # every figure went out while the report was built, before render()
        concurrent.futures.wait(submitted)  # sent and rendered: nothing is left to render here
        with monkeypatch.context() as patch:
            patch.setattr(voxpop.report.render, "figure_files", lambda figure: pytest.fail("rendered here"))
            remote.render()
    local.write(tmp_path / "local")
    remote.write(tmp_path / "remote")
    for path in sorted((tmp_path / "local").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "remote" / path.relative_to(tmp_path / "local")).read_bytes(), path
    assert len(list((tmp_path / "local" / "figures").iterdir())) == 2 * n_figures  # a PNG and a PDF each
    pdf = (tmp_path / "local" / "figures" / "mlcm.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"CreationDate" not in pdf and b"matplotlib" not in pdf


def test_png_carries_no_software_or_date_metadata():
    small = mlcm_counts().iloc[:2, :2]
    figure = matrix_plots.heatmap(small)
    png = figure_png(figure)
    assert b"Software" not in png and b"matplotlib" not in png and b"tIME" not in png
    assert png == figure_png(figure) == figure_png(matrix_plots.heatmap(small))  # however often drawn before


# --------------------------------------------------------------------------------------------------
# Tables and errors


def test_with_ci_formats_intervals_and_leaves_missing_ones_out():
    table = pd.DataFrame(
        {"metric": ["uar", "mcc"], "value": [0.6234, 0.1], "low": [0.5811, np.nan], "high": [0.6642, np.nan]}
    )
    out = with_ci(table, digits=3)
    assert out.columns.tolist() == ["metric", "value"]
    assert out["value"].tolist() == ["0.623 [0.581, 0.664]", "0.100"]
    with pytest.raises(InputError, match="no column"):
        with_ci(table.drop(columns="low"))


def test_table_cells_index_and_highlight_rules():
    multi = pd.DataFrame(
        {"f1": [0.5, 0.7, 0.7]}, index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["x", "y"])
    )
    cells = table_cells(multi, ".1f", highlight="max")
    assert cells.header == ["x", "y", "f1"]
    assert cells.rows == [["a", "1", "0.5"], ["a", "2", "0.7"], ["b", "1", "0.7"]]
    assert [row[-1] for row in cells.bold] == [False, True, True]  # ties all marked
    assert cells.numeric == [False, False, True]
    mask = pd.DataFrame({"f1": [True, False, False]}, index=multi.index)
    assert [row[-1] for row in table_cells(multi, highlight=mask).bold] == [True, False, False]
    with pytest.raises(ConfigError, match="shape"):
        table_cells(multi, highlight=mask.iloc[:2])
    assert table_cells(pd.DataFrame({"a": [1]}), highlight="min").header == ["a"]  # 0..n-1 index left out


def test_names_must_be_unique_and_usable_as_file_names():
    section = Report("r").add_section("s")
    section.add_table("Cross test", pd.DataFrame({"a": [1]}))
    with pytest.raises(ConfigError, match="already used"):
        section.add_figure("cross-test", Figure())
    with pytest.raises(ConfigError, match="no letters"):
        section.add_table("!!", pd.DataFrame({"a": [1]}))
    with pytest.raises(InputError, match="DataFrame"):
        section.add_table("x", [1, 2])


# --------------------------------------------------------------------------------------------------
# Plots


def _whiskers(axes) -> list[tuple[float, float, float]]:
    """(x, low, high) of every vertical error-bar segment."""
    out = []
    for collection in axes.collections:
        for segment in getattr(collection, "get_segments", list)():
            (x0, y0), (x1, y1) = segment
            if x0 == x1:
                out.append((x0, min(y0, y1), max(y0, y1)))
    return sorted(out)


def test_agreement_bars_one_bar_per_row_with_whiskers_where_an_interval_exists():
    rows = agreement_rows()
    figure = plots.agreement_bars(rows, "value", "ci_low", "ci_high", by="group", x="label", title="alpha")
    axes = figure.axes[0]
    assert isinstance(figure, Figure) and len(axes.patches) == len(rows)
    by_x = sorted((p.get_x() + p.get_width() / 2, p.get_height()) for p in axes.patches)
    assert [h for _, h in by_x] == pytest.approx([0.61, 0.30, 0.42, 0.22, 0.55, 0.47, -0.05, 0.12])
    whiskers = _whiskers(axes)
    with_interval = rows.dropna()
    assert len(whiskers) == len(with_interval)  # the row without an interval has no whisker
    expected = sorted(zip(with_interval["ci_low"], with_interval["ci_high"], strict=True))
    np.testing.assert_allclose(sorted((lo, hi) for _, lo, hi in whiskers), expected)
    assert [t.get_text() for t in axes.get_xticklabels()] == EMOTIONS
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["acted", "wild"]
    assert len(plots.agreement_bars(rows[rows["group"] == "acted"].set_index("label"), "value").axes[0].patches) == 4


def test_agreement_bars_rejects_repeated_bars_and_unknown_columns():
    rows = agreement_rows()
    with pytest.raises(InputError, match="repeated bar"):
        plots.agreement_bars(rows, "value", x="label")  # two groups but no by=
    with pytest.raises(InputError, match="no column"):
        plots.agreement_bars(rows, "alpha", x="label", by="group")


def test_threshold_curve_draws_each_emotion_the_mean_and_the_best_t():
    curve = sweep_curve()
    best = float(curve["mean"].idxmax())
    axes = plots.threshold_curve(curve, best).axes[0]
    lines = axes.lines
    assert len(lines) == len(EMOTIONS) + 1 + 2  # emotions, mean, vertical line, dot on the mean
    for line, column in zip(lines, [*EMOTIONS, "mean"], strict=False):
        assert line.get_label() == column
        np.testing.assert_allclose(line.get_ydata(), curve[column].to_numpy())
    assert lines[-2].get_xdata()[0] == best
    assert lines[-1].get_ydata()[0] == pytest.approx(curve["mean"].max())
    assert axes.texts[0].get_text() == f"best t = {best:g}\nmean kappa = {curve['mean'].max():.3f}"
    assert len(plots.threshold_curve(curve).axes[0].lines) == len(EMOTIONS) + 1
    with pytest.raises(InputError, match="not one of"):
        plots.threshold_curve(curve, 0.333)
    with pytest.raises(InputError, match="mean"):
        plots.threshold_curve(curve.drop(columns="mean"))


def test_heatmap_cells_match_counts_and_row_shares():
    counts = mlcm_counts()
    axes = matrix_plots.heatmap(counts, "MLCM").axes[0]
    assert [t.get_text() for t in axes.texts] == [str(v) for v in counts.to_numpy().ravel()]
    assert axes.get_xlabel() == "predicted" and axes.get_ylabel() == "true"
    assert [t.get_text() for t in axes.get_yticklabels()] == list(counts.index)
    shares = counts.div(counts.sum(axis=1), axis=0).to_numpy()
    normalised = matrix_plots.heatmap(counts, normalize_rows=True).axes[0]
    assert [t.get_text() for t in normalised.texts] == [f"{v:.2f}" for v in shares.ravel()]
    np.testing.assert_allclose(normalised.images[0].get_array(), shares)
    empty_row = counts.copy()
    empty_row.iloc[0] = 0
    assert [t.get_text() for t in matrix_plots.heatmap(empty_row, normalize_rows=True).axes[0].texts][:5] == ["–"] * 5


def test_cross_test_heatmap_cells_match_the_long_table():
    long = cross_long()
    axes = matrix_plots.cross_test_heatmap(long, "uar").axes[0]
    rows = long[long["metric"] == "uar"]
    expected = [f"{r.value:.2f}\n[{r.low:.2f}, {r.high:.2f}]" for r in rows.itertuples()]  # train-major order
    assert [t.get_text() for t in axes.texts] == expected
    np.testing.assert_allclose(np.asarray(axes.images[0].get_array()).ravel(), rows["value"].to_numpy())
    assert [t.get_text() for t in axes.get_yticklabels()] == ["voice", "face", "av"]
    assert (axes.get_ylabel(), axes.get_xlabel()) == ("train", "test")
    no_ci = matrix_plots.cross_test_heatmap(long.assign(low=np.nan, high=np.nan), "uar").axes[0]
    assert [t.get_text() for t in no_ci.texts] == [f"{v:.2f}" for v in rows["value"]]


def test_layer_weights_bars_are_means_whiskers_span_the_folds():
    weights = fold_weights()
    axes = plots.layer_weights(weights, "WavLM").axes[0]
    assert len(axes.patches) == len(weights)
    np.testing.assert_allclose([p.get_height() for p in axes.patches], weights.mean(axis=1))
    whiskers = _whiskers(axes)
    np.testing.assert_allclose([w[1] for w in whiskers], weights.min(axis=1))
    np.testing.assert_allclose([w[2] for w in whiskers], weights.max(axis=1))
    single = plots.layer_weights(weights["fold1"]).axes[0]
    assert len(single.patches) == len(weights) and not _whiskers(single)
    with pytest.raises(InputError, match="summing to 1"):
        plots.layer_weights(weights * 3)


def test_loss_table_bars_show_both_losses_per_rule_and_condition():
    accounting = accounting_rows()
    figure = plots.loss_table_bars(accounting)
    data, rating = figure.axes[:2]
    for axes, column in ((data, "data_loss"), (rating, "rating_loss")):
        assert len(axes.patches) == len(accounting)
        by_condition = accounting.sort_values("condition", key=lambda s: s.map({"voice": 0, "face": 1}), kind="stable")
        np.testing.assert_allclose([p.get_height() for p in axes.patches], by_condition[column])
        assert [t.get_text() for t in axes.texts] == [f"{v:.0%}" for v in by_condition[column]]
        assert [t.get_text() for t in axes.get_xticklabels()] == ["mr", "pr", "ar"]


def test_a_lead_section_comes_first_before_the_contents_in_html_and_markdown():
    report = Report("Study", notice="synthetic")
    report.add_section("Details", "the rest").add_table("t", pd.DataFrame({"a": [1]}))
    report.add_section("More", "more")
    report.add_section("Headline", "the answer", lead=True).add_table("answer", pd.DataFrame({"b": [2]}))
    page = report.html()
    assert page.index('<section id="section-1" class="lead">\n<h2>Headline</h2>') < page.index("<nav>")
    assert page.index("<nav>") < page.index('<section id="section-2">\n<h2>Details</h2>')
    assert '<li><a href="#section-1">' not in page  # the contents list what follows the headline
    assert "<strong>Table 1:</strong> answer" in page and "<strong>Table 2:</strong> t" in page
    text = report.markdown()
    assert text.index("## Headline") < text.index("**Table 1: answer**") < text.index("## Details")
