"""Shared checks of an experiment's report section (imported by the tests of tests/experiments/)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from animegen.experiments.core import VERDICTS
from animegen.experiments.writeout import HEADER, MD_MARK, RESULT


def check_section(md: Path) -> dict:
    """The section's report.md starts with the marker, a title and the verdict table; result.json holds the same
    rows (valid verdicts, non-empty cells) and every image it names exists. Returns the parsed JSON."""
    lines = md.read_text().splitlines()
    assert lines[0] == MD_MARK and lines[1].startswith("## ")
    assert lines[3] == "| " + " | ".join(HEADER) + " |"
    data = json.loads((md.parent / RESULT).read_text())
    assert data["software"].startswith("animegen")
    rows = data["rows"]
    assert rows, "an experiment without verdict rows"
    table = lines[5:5 + len(rows)]
    assert all(line.startswith("| ") and line.count(" | ") >= len(HEADER) - 1 for line in table)
    for r in rows:
        assert set(r) == set(HEADER)
        assert r["verdict"] in VERDICTS
        assert all(str(r[k]).strip() for k in ("claim", "article", "ours", "setup"))
    for rel in data["images"].values():
        assert (md.parent / rel).is_file()
    return data


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
