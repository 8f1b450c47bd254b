"""Print a slice of a study's output as a Markdown table, for the README (run by docs/regenerate.py).

    python docs/slice.py matrix OUT --variant loss=cbce --metric macro_f1      # train x test, value [CI]
    python docs/slice.py table OUT/tables/label-sets.csv --columns "set,rule,items kept" --where part=train
    python docs/slice.py budget BUDGET/curve.csv --rule mr --statistic stability  # k x condition, value [CI]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def markdown(frame: pd.DataFrame) -> str:
    """A pipe table: first column left-aligned, the others as given."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| :--- | " + " | ".join(":---" for _ in frame.columns[1:]) + " |"
    rows = ["| " + " | ".join(str(v).replace("*", "\\*") for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def matrix(out: Path, variant: str, metric: str, group: str, rows: str, columns: str) -> str:
    results = pd.read_parquet(out / "results.parquet")
    cells = results[results["metric"].eq(metric) & results["group"].eq(group)]
    if variant:
        cells = cells[cells["variant"].eq(variant)]
    values = cells[["value", "low", "high"]].to_numpy()
    cells = cells.assign(cell=[f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in values])
    table = cells.pivot_table(index=rows, columns=columns, values="cell", aggfunc="first", sort=False)
    return markdown(table.reset_index().rename(columns={rows: f"{rows} \\ {columns}"}))


def budget(curve: Path, rule: str, statistic: str) -> str:
    """k x condition table of one statistic of ``voxpop budget``'s curve.csv, the full panel's level last."""
    rows = pd.read_csv(curve, keep_default_na=False, na_values=[""])
    rows = rows[rows["rule"].eq(rule) & rows["statistic"].eq(statistic)]
    cells = rows.assign(cell=[f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if v == v else "-"
                              for v, lo, hi in rows[["value", "ci_low", "ci_high"]].to_numpy()])  # fmt: skip
    table = cells.pivot_table(index="raters", columns="condition", values="cell", aggfunc="first", sort=False)
    full = rows.groupby("condition", sort=False)["full_panel"].first()
    table.loc["full panel"] = [f"{full[c]:.3f}" if full[c] == full[c] else "-" for c in table.columns]
    return markdown(table.reset_index().rename(columns={"raters": "k"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    m = sub.add_parser("matrix")
    m.add_argument("out", type=Path)
    m.add_argument("--variant", default="")
    m.add_argument("--metric", required=True)
    m.add_argument("--group", default="all")
    m.add_argument("--rows", default="train")
    m.add_argument("--columns", default="test")
    t = sub.add_parser("table")
    t.add_argument("csv", type=Path)
    t.add_argument("--columns", default="")
    t.add_argument("--where", default="", help="keep rows where COLUMN=VALUE")
    b = sub.add_parser("budget")
    b.add_argument("curve", type=Path)
    b.add_argument("--rule", default="mr")
    b.add_argument("--statistic", default="stability")
    args = parser.parse_args()
    if args.what == "budget":
        print(budget(args.curve, args.rule, args.statistic))
    elif args.what == "matrix":
        print(matrix(args.out, args.variant, args.metric, args.group, args.rows, args.columns))
    else:
        frame = pd.read_csv(args.csv, dtype=str, keep_default_na=False)
        if args.where:
            column, _, value = args.where.partition("=")
            frame = frame[frame[column].eq(value)]
        if args.columns:
            frame = frame[[c.strip() for c in args.columns.split(",")]]
        print(markdown(frame))


if __name__ == "__main__":
    main()
