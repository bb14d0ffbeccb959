"""The docs/ pages build as an mkdocs-material site with `mkdocs build --strict` (broken links to
pages or images fail it), and the README stays short."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site"),
                           "--config-file", str(ROOT / "mkdocs.yml")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    built = {p.parent.name for p in (tmp_path / "site").glob("*/index.html")}
    assert pages - {"index"} <= built, f"pages not built: {pages - {'index'} - built}"
    assert (tmp_path / "site" / "index.html").is_file()


def test_readme_is_short_and_links_into_docs():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for page in ("usage", "outputs", "speed", "batch", "library", "architecture"):
        assert f"docs/{page}.md" in text, f"README does not link docs/{page}.md"
        assert (ROOT / "docs" / f"{page}.md").is_file()
