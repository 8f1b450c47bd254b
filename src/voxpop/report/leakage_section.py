"""The report's "Leakage" section: the study's pre-flight leakage audit (:mod:`voxpop.study.leakage`), per kind and
finding by finding, with what the audit could not check."""

from __future__ import annotations

from voxpop.report.render import Report

SHOWN_FINDINGS = 60
"""Findings listed in the report; ``leakage.csv`` beside the results keeps them all."""


def leakage_section(report: Report, run) -> None:
    """Add the "Leakage" section: a table per kind (findings, folds, items, what it means for the scores), the
    first :data:`SHOWN_FINDINGS` findings and the audit's notes; nothing when the audit was off.

    Args:
        report: the report being built.
        run: the finished :class:`voxpop.study.run.StudyRun` (its ``audit``).
    """
    from voxpop.study.leakage import summary_table
    from voxpop.study.leakage_check import AUDIT_FILE

    audit = getattr(run, "audit", None)
    if audit is None:
        return
    findings = audit.findings
    lead = (
        f"What each fold's test items share with its training or development items: {len(findings):,} findings "
        f"(all in {AUDIT_FILE}). Speakers and recordings in both sides mean the test items were learnt; shared "
        "sentences mean the score may rest on the words; an encoder trained on the test corpus has seen its items. "
        "Near-duplicates (trimmed, resampled or re-recorded clips) are not found (docs/leakage.md)."
    )
    section = report.add_section("Leakage", lead)
    section.add_table("Leakage per kind", summary_table(audit), caption="items: summed over the folds")
    if len(findings):
        caption = f"the first {SHOWN_FINDINGS} of {len(findings):,}" if len(findings) > SHOWN_FINDINGS else ""
        section.add_table("Leakage findings", findings.head(SHOWN_FINDINGS), caption=caption)
    if audit.notes:
        section.add_text("\n".join(f"- {note}" for note in audit.notes))
