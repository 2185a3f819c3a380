"""Regenerate the docs' figure tables by running the benchmarks that measure them.

    .venv/bin/python bench/update_docs.py            # run every block's benchmark, rewrite it
    .venv/bin/python bench/update_docs.py --check    # list the blocks; run nothing
    .venv/bin/python bench/update_docs.py --only registry,audit_chain

A docs page holds a benchmark's table between two markers::

    <!-- bench:audit_chain --events 50000 -->
    | figure | ... |
    <!-- /bench:audit_chain -->

For each such block in docs/*.md (docs/connectors/*.md too) this runs
``python bench/NAME.py --markdown ARGS`` with this interpreter, from the repository
root, and puts what it prints (a Markdown table with the figure, its peer from the
same run and the load average) between the markers. A benchmark that fails leaves
its block as it was, and the script exits 1 naming it. An unclosed or mismatched
block, or one whose benchmark does not exist, is an error before anything runs.
Markers inside a fenced code block are an example, not a block.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPEN = re.compile(r"^<!-- bench:(?P<name>[a-z0-9_]+)(?P<args>[^>]*?)\s*-->\s*$")
CLOSE = re.compile(r"^<!-- /bench:(?P<name>[a-z0-9_]+) -->\s*$")


class BlockError(ValueError):
    """A page's bench markers do not pair up, or name no benchmark."""


@dataclass(frozen=True)
class Block:
    """One ``<!-- bench:NAME args -->`` … ``<!-- /bench:NAME -->`` block of a page."""

    page: Path
    name: str
    args: tuple[str, ...]
    start: int  # index of the opening marker's line
    end: int  # index of the closing marker's line

    def command(self, bench_dir: Path) -> list[str]:
        script = bench_dir / f"{self.name}.py"
        return [sys.executable, str(script), "--markdown", *self.args]

    def where(self, root: Path) -> str:
        try:
            page = self.page.relative_to(root)
        except ValueError:
            page = self.page
        return f"{page}:{self.start + 1}"


def find_blocks(page: Path, bench_dir: Path) -> list[Block]:
    """Every bench block of one page, in order; BlockError if the markers are wrong."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    opened: tuple[int, str, tuple[str, ...]] | None = None
    fenced = False
    for index, text in enumerate(lines):
        if text.lstrip().startswith("```"):
            fenced = not fenced  # markers shown inside a code block are an example
        if fenced:
            continue
        if match := OPEN.match(text):
            if opened is not None:
                raise BlockError(f"{page}:{index + 1}: bench:{match['name']} inside another block")
            if not (bench_dir / f"{match['name']}.py").is_file():
                raise BlockError(f"{page}:{index + 1}: no benchmark bench/{match['name']}.py")
            opened = (index, match["name"], tuple(shlex.split(match["args"])))
        elif match := CLOSE.match(text):
            if opened is None or opened[1] != match["name"]:
                raise BlockError(f"{page}:{index + 1}: /bench:{match['name']} closes no block")
            blocks.append(Block(page, opened[1], opened[2], opened[0], index))
            opened = None
        elif "<!-- bench:" in text or "<!-- /bench:" in text:
            raise BlockError(f"{page}:{index + 1}: malformed bench marker: {text.strip()}")
    if opened is not None:
        raise BlockError(f"{page}:{opened[0] + 1}: bench:{opened[1]} is never closed")
    return blocks


def replace_blocks(text: str, tables: dict[int, str]) -> str:
    """The page with each block's lines (keyed by its opening line) replaced by a table."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    skipping = False
    for index, line in enumerate(lines):
        if skipping:
            if CLOSE.match(line):  # blocks hold no fences: find_blocks saw this close
                out.append(line)
                skipping = False
            continue
        out.append(line)
        if index in tables:
            body = tables[index].strip("\n")
            out.append(body + "\n" if body else "")
            skipping = True
    return "".join(out)


def pages(docs: Path) -> list[Path]:
    return sorted(docs.rglob("*.md"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="list the blocks, run nothing")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--bench", type=Path, default=ROOT / "bench")
    args = parser.parse_args(argv)
    only = {name for name in args.only.split(",") if name}
    try:
        found = [block for page in pages(args.docs) for block in find_blocks(page, args.bench)]
    except BlockError as exc:
        print(f"update_docs: {exc}", file=sys.stderr)
        return 2
    unknown = only - {block.name for block in found}
    if unknown:
        print(f"update_docs: --only: no block for {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    chosen = [block for block in found if not only or block.name in only]
    if args.check:
        for block in chosen:
            print(f"{block.where(ROOT)}  {shlex.join(block.command(Path('bench'))[1:])}")
        print(f"{len(chosen)} block(s)")
        return 0
    failed: list[str] = []
    for page in sorted({block.page for block in chosen}):
        tables: dict[int, str] = {}
        for block in (b for b in chosen if b.page == page):
            print(f"running {shlex.join(block.command(Path('bench'))[1:])}", flush=True)
            run = subprocess.run(
                block.command(args.bench), cwd=ROOT, capture_output=True, text=True, check=False
            )
            if run.returncode != 0 or not run.stdout.strip():
                sys.stderr.write(run.stderr[-2000:])
                failed.append(f"{block.where(ROOT)} bench:{block.name} (exit {run.returncode})")
                continue
            tables[block.start] = run.stdout
        if tables:
            page.write_text(replace_blocks(page.read_text(encoding="utf-8"), tables), "utf-8")
    for failure in failed:
        print(f"update_docs: failed, block left as it was: {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
