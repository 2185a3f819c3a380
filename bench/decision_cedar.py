"""cedarpy as the decision benchmark's peer: on each agent's slice, and on the whole export.

A Cedar deployment does not hand every policy of the organisation to each
request: it evaluates the principal's slice. For an agent that is its charter's
policies, the org policy, and the roles of the person it acts for (none when it
acts for nobody), with the entities that request needs (the agent, that person,
their groups). :func:`sliced` measures that — the fair comparison, and the
headline ratio. :func:`whole` hands cedarpy the full export (every agent's
policies, every person), as a deployment that does not slice would; Cedar
evaluates every policy per request, so that figure mostly measures the slicing.

Both pre-parse what they can (PolicySet and Entities, outside the timer), take
an evenly spread sample of the requests within a time budget, and check every
answer against Charter's. Charter's ``evaluate`` is timed on the same sampled
requests, in rounds alternating with cedarpy's (each engine deciding the sample
back to back), so a shared machine's load falls on both alike: the ratios are of
those two p50s.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from charter.domain.cedar_export import export_cedar
from charter.domain.compiled import Snapshot
from charter.domain.evaluation import evaluate
from charter.domain.roles import RolesFile


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _picked(requests: list[Any], sample: int) -> list[int]:
    step = max(1, len(requests) // sample)
    return list(range(0, len(requests), step))[:sample]


def _timed(
    runs: list[tuple[int, Any, Any, Any]],
    ours: list[bool],
    budget: float,
    charter: Callable[[int], object],
    rounds: int = 3,
) -> dict[str, Any]:
    """Time ``cedarpy.is_authorized`` on each (index, request, policies, entities), and
    Charter's ``evaluate`` on the same requests (``charter(index)``): in rounds, each
    engine deciding the whole sample back to back, so both run as they would alone and a
    shared machine's load falls on both alike. Answers are checked in the first round."""
    import cedarpy

    first = runs[0]
    cedarpy.is_authorized(first[1], first[2], first[3])
    latencies: list[float] = []
    own: list[float] = []
    disagree = errors = checked = 0
    deadline = time.monotonic() + budget
    clock = time.perf_counter_ns
    for round_ in range(rounds):
        for index, *_ in runs:
            begin = clock()
            charter(index)
            own.append((clock() - begin) / 1000)
        for index, request, policies, entities in runs:
            if latencies and time.monotonic() > deadline:
                break
            begin = clock()
            result = cedarpy.is_authorized(request, policies, entities)
            latencies.append((clock() - begin) / 1000)
            if round_ == 0:
                checked += 1
                disagree += result.allowed != ours[index]
                errors += bool(result.diagnostics.errors)
        if time.monotonic() > deadline:
            break
    latencies.sort()
    own.sort()
    return {
        "sample": checked,
        "p50_us": percentile(latencies, 0.5),
        "p99_us": percentile(latencies, 0.99),
        "ours_p50_us": percentile(own, 0.5),
        "per_s": len(latencies) / (sum(latencies) / 1e6),
        "disagree": disagree,
        "errors": errors,
    }


def _charter(snapshot: Snapshot, requests: list[Any], now_us: int) -> Callable[[int], object]:
    def decide(index: int) -> object:
        return evaluate(snapshot, *requests[index], now_us)

    return decide


def whole(
    snapshot: Snapshot,
    requests: list[Any],
    ours: list[bool],
    sample: int,
    budget: float,
    now_us: int,
) -> dict[str, Any]:
    """cedarpy on ``charter export cedar`` of the whole estate (pre-parsed once)."""
    import cedarpy

    started = time.perf_counter()
    export = export_cedar(snapshot)
    exported = time.perf_counter() - started
    started = time.perf_counter()
    policies = cedarpy.PolicySet.from_str(export.policies)
    entities = cedarpy.Entities.from_json_str(json.dumps(export.entities))
    parsed = time.perf_counter() - started
    runs = [
        (i, export.request(*requests[i], now_us), policies, entities)
        for i in _picked(requests, sample)
    ]
    return {
        "policies": export.policies.count("\n@id("),
        "export_s": exported,
        "parse_s": parsed,
        **_timed(runs, ours, budget, _charter(snapshot, requests, now_us)),
    }


def _slice(snapshot: Snapshot, agent: str, on_behalf_of: str | None) -> Snapshot:
    """The agent's charter, the org policy, and the roles of the person it acts for."""
    compiled = snapshot.agents.get(agent)
    person = snapshot.find_person(on_behalf_of) if on_behalf_of is not None else None
    roles = RolesFile(roles=snapshot.roles.roles_for(person.groups)) if person else RolesFile()
    return Snapshot(
        {agent: compiled} if compiled is not None else {},
        {person.email: person} if person is not None else {},
        snapshot.org_policy,
        roles,
        org=snapshot.org,
    )


def sliced(
    snapshot: Snapshot,
    requests: list[Any],
    ours: list[bool],
    sample: int,
    budget: float,
    now_us: int,
) -> dict[str, Any]:
    """cedarpy on each request's slice (each slice exported and pre-parsed once)."""
    import cedarpy

    parsed: dict[tuple[str, str | None], tuple[Any, Any, Any, int]] = {}
    runs = []
    started = time.perf_counter()
    for i in _picked(requests, sample):
        agent, _, _, _, on_behalf_of = requests[i]
        key = (agent, on_behalf_of)
        if key not in parsed:
            export = export_cedar(_slice(snapshot, agent, on_behalf_of))
            parsed[key] = (
                export,
                cedarpy.PolicySet.from_str(export.policies),
                cedarpy.Entities.from_json_str(json.dumps(export.entities)),
                export.policies.count("\n@id("),
            )
        export, policies, entities, _ = parsed[key]
        runs.append((i, export.request(*requests[i], now_us), policies, entities))
    prepared = time.perf_counter() - started
    sizes = [count for *_, count in parsed.values()]
    return {
        "slices": len(parsed),
        "policies": statistics.median(sizes),
        "policies_max": max(sizes),
        "prepare_s": prepared,
        **_timed(runs, ours, budget, _charter(snapshot, requests, now_us)),
    }


#: Figures other engines publish for the same kind of work: measured elsewhere, on other
#: hardware, with their own method — context, not a comparison made in this run.
PUBLISHED = (
    (
        "Microsoft Agent Governance Toolkit, PolicyEvaluator.evaluate, one rule",
        "p50 11 µs (84,489/s); 100 rules: p50 30 µs",
        "github.com/microsoft/agent-governance-toolkit BENCHMARKS.md (v2.1.0, March 2026, "
        "Python 3.13, a Windows 11 workstation)",
    ),
    (
        "Keycloak, OAuth client-credentials grants (token issuance, not a decision)",
        "about 120 per second per vCPU",
        "keycloak.org/high-availability/concepts-memory-and-cpu-sizing",
    ),
)


def line(label: str, value: str) -> None:
    print(f"  {label:<46} {value}")


def report(
    snapshot: Snapshot, requests: list[Any], ours: dict[str, Any], args: Any, now_us: int
) -> dict[str, Any]:
    """Measure cedarpy both ways and print it beside Charter's p50 (the headline: sliced)."""
    decisions = ours["decisions"]
    cut = sliced(snapshot, requests, decisions, args.cedar_sample, args.cedar_seconds, now_us)
    print(
        "\ncedarpy on each agent's slice (its charter, the org policy, its delegator's roles; "
        "pre-parsed)"
    )
    line(
        "slices / policies per slice: median, max",
        f"{cut['slices']:,} / {cut['policies']:.0f}, {cut['policies_max']:,}   "
        f"(export + parse {cut['prepare_s']:.1f} s)",
    )
    line(
        f"sample of {cut['sample']} requests: p50 / p99",
        f"{cut['p50_us']:,.1f} / {cut['p99_us']:,.1f} µs",
    )
    line("disagreements with Charter / Cedar errors", f"{cut['disagree']} / {cut['errors']}")
    line(
        "Charter on the same requests, alternating rounds",
        f"p50 {cut['ours_p50_us']:.2f} µs (all requests: {ours['p50_us']:.2f} µs)",
    )
    line(
        "ratio: Charter p50 vs Cedar p50, sliced",
        f"{cut['p50_us'] / cut['ours_p50_us']:,.0f}× faster   (target ≥ 75×; the headline; "
        f"{cut['p50_us'] / ours['p50_us']:,.0f}× against the p50 of all requests)",
    )
    full = whole(snapshot, requests, decisions, args.cedar_sample, args.cedar_seconds, now_us)
    print("\ncedarpy on the whole export (every agent's policies and every person; pre-parsed)")
    line(
        "policies exported / export / parse",
        f"{full['policies']:,} / {full['export_s']:.1f} s / {full['parse_s']:.1f} s",
    )
    line(
        f"sample of {full['sample']} requests: p50 / p99",
        f"{full['p50_us']:,.0f} / {full['p99_us']:,.0f} µs",
    )
    line("disagreements with Charter / Cedar errors", f"{full['disagree']} / {full['errors']}")
    line(
        "Charter on the same requests, alternating rounds",
        f"p50 {full['ours_p50_us']:.2f} µs",
    )
    line(
        "ratio: Charter p50 vs Cedar p50, whole set",
        f"{full['p50_us'] / full['ours_p50_us']:,.0f}× faster   (measures the slicing, mostly)",
    )
    print("\npublished elsewhere (not measured in this run; other hardware and method)")
    for name, figure, source in PUBLISHED:
        print(f"  {name}: {figure}\n    source: {source}")
    return {"sliced": cut, "whole": full}


def markdown(
    ours: dict[str, Any], service: dict[str, Any], theirs: dict[str, Any], load: float
) -> None:
    """The figure table of docs/decisions.md and docs/benchmarks.md, as Markdown."""
    rows = [
        ("measure", "p50", "p99", "peer"),
        ("---", "---:", "---:", "---"),
        (
            "Charter `evaluate`, in process (all requests)",
            f"{ours['p50_us']:.2f} µs",
            f"{ours['p99_us']:.2f} µs",
            "target p50 ≤ 3 µs, p99 ≤ 15 µs",
        ),
        (
            "Charter `DecisionService.decide` (`charter.decide`), activity recorded",
            f"{service['p50_us']:.2f} µs",
            f"{service['p99_us']:.2f} µs",
            "",
        ),
    ]
    for key, words in (("sliced", "each agent's slice"), ("whole", "the whole export")):
        if key not in theirs:
            continue
        cedar = theirs[key]
        size = cedar["policies"]
        rows.append(
            (
                f"cedarpy on {words} ({size:,.0f} policies, {cedar['sample']} requests, "
                f"{cedar['disagree']} disagreements)",
                f"{cedar['p50_us']:,.1f} µs",
                f"{cedar['p99_us']:,.1f} µs",
                f"Charter {cedar['p50_us'] / cedar['ours_p50_us']:,.0f}× faster (p50; Charter "
                f"{cedar['ours_p50_us']:.2f} µs on the same requests, in alternating rounds)",
            )
        )
    for name, figure, source in PUBLISHED:
        rows.append((f"{name} — measured elsewhere", figure, "", source))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nLoad average {load:.1f} at the end of the run.")
