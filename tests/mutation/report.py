"""Per-module kill rate of the last ``make mutate`` run, and every survivor explained.

mutmut keeps each mutant's result in ``mutants/**/*.py.meta``; this reads them,
matches every surviving mutant against ``tests/mutation/survivors.toml`` (by the
function and the changed lines, not by mutmut's number, which shifts when the
code changes) and prints, per module, the share of non-equivalent mutants the
tests killed. Exits 1 when a fully-run module is under the target or a survivor
is not explained, so ``make mutate`` fails until someone kills it or says why
it is left (docs/mutation-testing.md).

Run after ``mutmut run``: ``python tests/mutation/report.py [--markdown | --names]``;
``--add equivalent|left WHY MUTANT...`` appends explanations to survivors.toml.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TARGET = 0.95
ROOT = Path(__file__).resolve().parents[2]
SURVIVORS = Path(__file__).with_name("survivors.toml")

#: mutmut's exit codes (mutmut.stats.status_by_exit_code), folded to what a
#: reader needs: a timeout or a type-check failure is a mutant that was noticed.
KILLED = {1, 3, 36, 37, 24, -24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


@dataclass(frozen=True)
class Explained:
    """A survivor someone looked at: equivalent (no test can tell) or left (with why)."""

    function: str
    change: tuple[str, ...]
    kind: str
    why: str


@dataclass
class ModuleResult:
    module: str
    total: int = 0
    killed: int = 0
    unchecked: int = 0
    equivalent: list[tuple[str, Explained]] = field(default_factory=list)
    left: list[tuple[str, Explained]] = field(default_factory=list)
    unexplained: list[tuple[str, str]] = field(default_factory=list)

    @property
    def non_equivalent(self) -> int:
        return self.total - len(self.equivalent)

    @property
    def rate(self) -> float:
        return self.killed / self.non_equivalent if self.non_equivalent else 1.0


def function_of(mutant: str) -> str:
    """``pkg.mod.xǁClassǁmethod__mutmut_3`` -> ``pkg.mod.Class.method``."""
    module, _, mangled = mutant.rpartition(".")
    name = mangled.rsplit("__mutmut_", 1)[0]
    name = name.replace("ǁ", ".").strip(".")[1:] if "ǁ" in name else name.removeprefix("x_")
    return f"{module}.{name.strip('.')}"


def changed_lines(diff: str) -> tuple[str, ...]:
    """The removed and added lines of a unified diff, stripped, in order."""
    return tuple(
        f"{line[0]} {line[1:].strip()}"
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def load_explained() -> list[Explained]:
    data = tomllib.loads(SURVIVORS.read_text(encoding="utf-8"))
    return [
        Explained(s["function"], tuple(s["change"]), s["kind"], s["why"])
        for s in data.get("survivor", [])
    ]


def collect() -> list[ModuleResult]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    explained = load_explained()
    results = []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        source = meta.relative_to(ROOT / "mutants").with_suffix("")
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        if not codes:
            continue
        result = ModuleResult(str(source))
        for mutant, code in sorted(codes.items()):
            result.total += 1
            if code is None:
                result.unchecked += 1
            elif code in KILLED:
                result.killed += 1
            else:
                diff = get_diff_for_mutant(mutant, path=source)
                key = (function_of(mutant), changed_lines(diff))
                match = next((e for e in explained if (e.function, e.change) == key), None)
                if match is None:
                    status = "no tests reach it" if code in NO_TESTS else "survived"
                    result.unexplained.append((mutant, f"{status}\n{diff}"))
                elif match.kind == "equivalent":
                    result.equivalent.append((mutant, match))
                else:
                    result.left.append((mutant, match))
        results.append(result)
    return results


def add(kind: str, why: str, mutants: list[str]) -> int:
    """Append an explanation for each named mutant to survivors.toml (after reading its diff)."""
    from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant

    if kind not in ("equivalent", "left") or not mutants:
        print("usage: --add equivalent|left WHY MUTANT...", file=sys.stderr)
        return 2
    with SURVIVORS.open("a", encoding="utf-8") as out:
        for mutant in mutants:
            diff = get_diff_for_mutant(mutant, path=find_mutant(mutant).path)
            change = ", ".join(json.dumps(line, ensure_ascii=False) for line in changed_lines(diff))
            out.write(
                f"\n[[survivor]]\nfunction = {json.dumps(function_of(mutant))}\n"
                f"change = [{change}]\nkind = {json.dumps(kind)}\n"
                f"why = {json.dumps(why, ensure_ascii=False)}\n"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="the tables for the docs page")
    parser.add_argument(
        "--names", action="store_true", help="only the names of the mutants not killed, to re-run"
    )
    parser.add_argument(
        "--add",
        nargs="+",
        metavar=("KIND", "WHY"),
        help="append KIND ('equivalent' or 'left') with WHY for the mutants named after it",
    )
    args = parser.parse_args()
    os.chdir(ROOT)  # mutmut resolves mutants/ relative to the working directory
    if args.add:
        return add(args.add[0], args.add[1], args.add[2:])
    results = collect()
    if args.names:
        for r in results:
            for mutant, _ in (*r.left, *r.unexplained):
                print(f"'{mutant}'")
        return 0
    if args.markdown:
        markdown(results)
        return 0
    failed = False
    for r in results:
        complete = r.unchecked == 0
        rate = f"{r.rate:.1%}" if complete else f"not run ({r.unchecked} unchecked)"
        left = len(r.left) + len(r.unexplained)
        print(
            f"{r.module:45} {r.total:5} mutants  {r.killed:5} killed  "
            f"{len(r.equivalent):3} equivalent  {left:3} left  {rate}"
        )
        if complete and r.rate < TARGET:
            failed = True
    for r in results:
        for mutant, text in r.unexplained:
            failed = True
            print(f"\nUNEXPLAINED {mutant}: {text}")
    kinds = Counter(e.kind for r in results for _, e in (*r.equivalent, *r.left))
    print(f"\nexplained in {SURVIVORS.name}: {dict(kinds)}; target {TARGET:.0%} per module")
    return 1 if failed else 0


def _code(lines: tuple[str, ...]) -> str:
    return " / ".join(f"`{line}`" for line in lines)


def markdown(results: list[ModuleResult]) -> None:
    """The docs page's table, then every survivor grouped by module and by explanation."""
    print("| module | mutants | killed | equivalent | left | killed of non-equivalent |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        rate = f"{r.rate:.1%}" if r.unchecked == 0 else f"not run ({r.unchecked} not checked)"
        left = len(r.left) + len(r.unexplained)
        print(f"| `{r.module}` | {r.total} | {r.killed} | {len(r.equivalent)} | {left} | {rate} |")
    for r in results:
        if not (r.equivalent or r.left or r.unexplained):
            continue
        print(f"\n### `{r.module}`\n")
        groups: dict[tuple[str, str], list[Explained]] = {}
        for _, e in (*r.left, *r.equivalent):
            groups.setdefault((e.kind, e.why), []).append(e)
        for (kind, why), members in groups.items():
            print(f"- **{kind}** ({len(members)}): {why}.")
            for e in members:
                print(f"  - `{e.function.rpartition('.')[2]}`: {_code(e.change)}")
        if r.unexplained:
            print(f"- **not yet examined** ({len(r.unexplained)}):")
            for mutant, text in r.unexplained:
                lines = changed_lines(text.split("\n", 1)[1])
                print(f"  - `{function_of(mutant).rpartition('.')[2]}`: {_code(lines)}")


if __name__ == "__main__":
    sys.exit(main())
