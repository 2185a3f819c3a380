"""bench/update_docs.py: the docs' figure tables are what the benchmarks print, not typed."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
DOCS = BENCH.parent / "docs"

FAKE_BENCH = """
import sys
args = sys.argv[1:]
assert args[0] == "--markdown", args
if "--fail" in args:
    sys.exit(3)
print("| figure | value |")
print("|---|---:|")
print("| rows/s | " + " ".join(args[1:]) + " |")
"""


@pytest.fixture(scope="module")
def update_docs() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        import update_docs
    finally:
        sys.path.remove(str(BENCH))
    return update_docs


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    bench = tmp_path / "bench"
    docs.mkdir()
    bench.mkdir()
    (bench / "fake.py").write_text(FAKE_BENCH)
    return docs, bench


def _run(module: ModuleType, docs: Path, bench: Path, *extra: str) -> int:
    code: int = module.main(["--docs", str(docs), "--bench", str(bench), *extra])
    return code


PAGE = textwrap.dedent(
    """\
    # Speed

    <!-- bench:fake --size 7 -->
    | stale | table |
    typed by hand
    <!-- /bench:fake -->

    Between the blocks.

    <!-- bench:fake -->
    <!-- /bench:fake -->
    The end.
    """
)


def test_each_block_is_replaced_by_what_its_benchmark_prints(
    update_docs: ModuleType, tree: tuple[Path, Path]
) -> None:
    docs, bench = tree
    page = docs / "speed.md"
    page.write_text(PAGE)
    assert _run(update_docs, docs, bench) == 0
    assert page.read_text() == textwrap.dedent(
        """\
        # Speed

        <!-- bench:fake --size 7 -->
        | figure | value |
        |---|---:|
        | rows/s | --size 7 |
        <!-- /bench:fake -->

        Between the blocks.

        <!-- bench:fake -->
        | figure | value |
        |---|---:|
        | rows/s |  |
        <!-- /bench:fake -->
        The end.
        """
    )
    first = page.read_text()
    assert _run(update_docs, docs, bench) == 0
    assert page.read_text() == first  # idempotent: the markers survive a rewrite


def test_markers_inside_a_code_block_are_an_example_not_a_block(
    update_docs: ModuleType, tree: tuple[Path, Path]
) -> None:
    docs, bench = tree
    page = docs / "howto.md"
    shown = "```text\n<!-- bench:fake --size 1 -->\n| a table |\n<!-- /bench:fake -->\n```\n"
    page.write_text(shown + PAGE)
    assert _run(update_docs, docs, bench) == 0
    text = page.read_text()
    assert text.startswith(shown)  # the example is left as it is
    assert "| rows/s | --size 7 |" in text  # the real block after it is written


def test_check_lists_the_blocks_and_runs_nothing(
    update_docs: ModuleType, tree: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    docs, bench = tree
    (docs / "speed.md").write_text(PAGE.replace("--size 7", "--fail"))
    assert _run(update_docs, docs, bench, "--check") == 0
    out = capsys.readouterr().out
    assert "bench/fake.py --markdown --fail" in out
    assert "bench/fake.py --markdown\n" in out
    assert "2 block(s)" in out
    assert "stale" in (docs / "speed.md").read_text()


def test_a_failing_benchmark_leaves_its_block_and_exits_1(
    update_docs: ModuleType, tree: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    docs, bench = tree
    page = docs / "speed.md"
    page.write_text(PAGE.replace("--size 7", "--fail"))
    assert _run(update_docs, docs, bench) == 1
    text = page.read_text()
    assert "| stale | table |\ntyped by hand\n" in text  # the failed block, as it was
    assert "| rows/s |  |" in text  # the other block was still written
    assert "speed.md:3 bench:fake (exit 3)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        ("<!-- bench:fake -->\n| a |\n", "bench:fake is never closed"),
        ("<!-- bench:fake -->\n<!-- /bench:other -->\n", "/bench:other closes no block"),
        ("<!-- bench:nosuch -->\n<!-- /bench:nosuch -->\n", "no benchmark bench/nosuch.py"),
        ("<!-- bench:fake -->\n<!-- bench:fake -->\n", "inside another block"),
        ("<!-- bench: fake -->\n", "malformed bench marker"),
    ],
)
def test_bad_markers_exit_2_and_change_nothing(
    update_docs: ModuleType,
    tree: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    page: str,
    problem: str,
) -> None:
    docs, bench = tree
    (docs / "good.md").write_text(PAGE)
    (docs / "zbad.md").write_text(page)
    assert _run(update_docs, docs, bench) == 2
    assert problem in capsys.readouterr().err
    assert (docs / "good.md").read_text() == PAGE  # nothing ran, not even the good page


def test_only_names_an_existing_block(
    update_docs: ModuleType, tree: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    docs, bench = tree
    (docs / "speed.md").write_text(PAGE)
    assert _run(update_docs, docs, bench, "--only", "registry") == 2
    assert "--only: no block for registry" in capsys.readouterr().err


def test_every_block_in_the_docs_names_a_benchmark_with_a_markdown_flag(
    update_docs: ModuleType,
) -> None:
    blocks = [b for page in update_docs.pages(DOCS) for b in update_docs.find_blocks(page, BENCH)]
    assert blocks, "docs/benchmarks.md promises generated tables"
    for block in blocks:
        script = (BENCH / f"{block.name}.py").read_text()
        assert '"--markdown"' in script, f"{block.where(DOCS.parent)}: {block.name} lacks it"
