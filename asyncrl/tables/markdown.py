"""Labels shared by the tables (frame budgets, the lost-life setting), Markdown tables, and the
``name.csv`` + ``name.md`` pair every table is written as."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .reference import reference_scores

def frames_label(frames) -> str:
    """A frame count for labels and file names: 20000000 -> "20M", 200000 -> "200k"."""
    if frames is None or pd.isna(frames):
        return "?"
    frames = float(frames)
    if frames >= 1e6:
        return f"{frames / 1e6:g}M"
    if frames >= 1e3:
        return f"{frames / 1e3:g}k"
    return f"{frames:g}"


def life_label(env: str, terminal_on_life_loss: bool) -> str:
    """", lost life terminal" / ", lost life not terminal" for Atari games; "" for games without
    lives (CartPole, toy) unless the setting was on."""
    if not terminal_on_life_loss and env not in reference_scores().index:
        return ""
    return ", lost life " + ("terminal" if terminal_on_life_loss else "not terminal")


def horizon_label(total_frames, lr_anneal_frames) -> str:
    """", LR horizon 320M" for runs whose learning rate anneals to 0 past their budget; "" where it
    reaches 0 at the budget (every run recorded before the horizon was a key of its own)."""
    if lr_anneal_frames is None or pd.isna(lr_anneal_frames) or int(lr_anneal_frames) == int(total_frames):
        return ""
    return f", LR horizon {frames_label(lr_anneal_frames)}"


def group_heading(subject: str, g: dict, runtime: bool = False) -> str:
    """A table section's heading: `subject`, the group's threads (and runtime), budget and life rule."""
    threads = f"{g['threads']} thread{'s' * (g['threads'] != 1)}" + (f" ({g['runtime']})" if runtime else "")
    return (f"## {subject}: {threads}, {frames_label(g['total_frames'])}-frame budget"
            f"{horizon_label(g['total_frames'], g.get('lr_anneal_frames'))}"
            f"{life_label(g['env'], g['terminal_on_life_loss'])}")


def _format_cell(value, floatfmt: str) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    if isinstance(value, (float, np.floating)):
        return format(value, floatfmt)
    return str(value)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".1f") -> str:
    """A GitHub Markdown table of ``df`` (its index is not written): floats as ``floatfmt``,
    missing values as ``—``, booleans as ``yes``/blank."""
    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_format_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines)


def write_table(df: pd.DataFrame, out_dir: str | Path, name: str, title: str,
                body: str | None = None, notes: Iterable[str] = ()) -> list[Path]:
    """Write ``OUT/name.csv`` (``df`` as is) and ``OUT/name.md`` (title, ``body`` — default
    :func:`to_markdown` of ``df`` — and notes as a list). Returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    df.to_csv(csv_path, index=False)
    text = [f"# {title}", "", body if body is not None else to_markdown(df), ""]
    text += [f"- {note}" for note in notes]
    md_path.write_text("\n".join(text).rstrip() + "\n", encoding="utf-8")
    return [csv_path, md_path]


def hours_label(hours: float, measured: float, shared: float, hosts: int = 1) -> str:
    """A run's training hours with how many of them shared the machine (runs.shared_hours):
    "2.96 (1.30 shared)", "2.96 (0.40 shared of 1.50 measured)" when only part of the run records
    it, plain "2.96" when none does (runs from before metrics.csv had other_load); ", 2 hosts" after
    it when the run trained on more than one machine (runs.host_count)."""
    on = f", {hosts} hosts" if hosts > 1 else ""
    if not measured > 0:
        return f"{hours:.2f}{on}"
    part = "" if measured >= 0.99 * hours else f" of {measured:.2f} measured"
    return f"{hours:.2f} ({shared:.2f} shared{part}){on}"


def trained_label(frames: float, code_versions=None) -> str:
    """Frames trained in millions, with ", 2 code versions" after it when the run trained under more
    than one code version (runs.code_versions; unknown and one are not marked)."""
    more = f", {int(code_versions)} code versions" if pd.notna(code_versions) and code_versions > 1 else ""
    return f"{frames / 1e6:.2f}M{more}"
