"""The code under test: a copy of crm_assets/, configs/ and .dlt/ taken at the start, so edits
made while a benchmark runs do not mix versions within it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the live tree


def snapshot_code(target: Path) -> dict[str, Any]:
    """Copy the live tree's code to `target` and make every later import use the copy: here
    (sys.path) and in every stage (PYTHONPATH; each stage runs with the copy as its working
    directory, where dlt reads .dlt/config.toml). Returns its dir and sha256."""
    ignore = shutil.ignore_patterns("__pycache__", "secrets.toml")
    for part in ("crm_assets", "configs", ".dlt"):
        shutil.copytree(ROOT / part, target / part, ignore=ignore)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(target), *filter(None, [os.environ.get("PYTHONPATH")])])
    check = subprocess.run(
        [sys.executable, "-c", "import crm_assets.definitions as d; "
         f"assert d.__file__.startswith({str(target)!r})"],
        cwd=target, capture_output=True, text=True)
    if check.returncode:
        raise SystemExit("crm_assets.definitions does not import from the copy (someone "
                         f"mid-edit?); try again\n{check.stderr[-2000:]}")
    sys.path.insert(0, str(target))
    digest = hashlib.sha256()
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    return {"dir": str(target), "sha256": digest.hexdigest()}
