"""The code under test: by default a copy of crm_assets/, configs/ and .dlt/ taken at the start,
so edits made while a run is going on do not mix versions within the run; or the live tree."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the live tree


@dataclass(frozen=True)
class CodeUnderTest:
    """`dir` holds crm_assets/ and configs/ and is every stage's working directory; `snapshot`
    (dir, sha256, patches, .py files) is None for the live tree."""

    dir: Path
    snapshot: dict[str, Any] | None = None

    @property
    def configs_dir(self) -> Path:
        return self.dir / "configs"

    def load_configs(self) -> list[Any]:
        return load_configs(self.configs_dir)


def load_configs(configs_dir: Path | str) -> list[Any]:
    from crm_assets.config import load_source_configs

    return load_source_configs(Path(configs_dir))


def snapshot_code(root: Path, target: Path, attempts: int = 10, wait_s: float = 30,
                  patches: list[Path] | None = None) -> CodeUnderTest:
    """Copy crm_assets/ and configs/ of `root` and make every later import (here and in every
    subprocess, through PYTHONPATH and the working directory) use the copy; retry while the
    live tree does not import (someone mid-edit)."""
    for attempt in range(1, attempts + 1):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(root / "crm_assets", target / "crm_assets",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(root / "configs", target / "configs")
        if (root / ".dlt").is_dir():
            # dlt reads ./.dlt/config.toml from the working directory: the copy is the cwd
            shutil.copytree(root / ".dlt", target / ".dlt",
                            ignore=shutil.ignore_patterns("secrets.toml"))
        for patch in patches or []:
            # A proposed change, applied to the copy only (the live tree is never touched).
            applied = subprocess.run(
                ["patch", "-p1", "-d", str(target), "-i", str(Path(patch).resolve())],
                capture_output=True, text=True)
            if applied.returncode != 0:
                raise SystemExit(f"{patch} does not apply to the current code:\n"
                                 f"{applied.stdout}{applied.stderr}")
        env = {**os.environ, "PYTHONPATH": str(target)}
        check = subprocess.run(
            [sys.executable, "-c", "import crm_assets.definitions as d; "
             "assert d.__file__.startswith(%r)" % str(target)],
            cwd=target, env=env, capture_output=True, text=True,
        )
        if check.returncode == 0:
            break
        print(f"snapshot attempt {attempt}: crm_assets.definitions does not import; retrying in "
              f"{wait_s:.0f} s\n{check.stderr.strip().splitlines()[-1] if check.stderr else ''}",
              flush=True)
        time.sleep(wait_s)
    else:
        raise SystemExit("the live crm_assets/ never imported; nothing to benchmark")
    digest = hashlib.sha256()
    files = sorted(p for p in target.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(target), *filter(None, [os.environ.get("PYTHONPATH")])])
    return CodeUnderTest(target, {
        "dir": str(target), "sha256": digest.hexdigest(),
        "patches": [str(patch) for patch in patches or []],
        "files": [str(p.relative_to(target)) for p in files if p.suffix == ".py"]})


HASH_ALL_PII = {"email": "hash", "phone": "hash", "emails[*].value": "hash", "owner.email": "hash"}


def set_pii_policies(configs_dir: Path, mode: str) -> None:
    """Rewrite the copied configs' PII policies: `none` removes them, `hash-all` hashes every
    e-mail and phone field in every resource of every source."""
    import yaml

    for path in sorted(configs_dir.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        defaults = raw.setdefault("resource_defaults", {})
        defaults.pop("pii", None)
        for resource in raw["resources"]:
            resource.pop("pii", None)
        if mode == "hash-all":
            defaults["pii"] = dict(HASH_ALL_PII)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
