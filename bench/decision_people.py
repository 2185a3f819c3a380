"""People as subjects in the decision benchmark: requests, in-process timing, cedarpy check.

A person decided on directly (an AuthZEN subject of type ``user``) is resolved
through the directory — by e-mail or by external id — and decided by their
roles; this is what ``DecisionService.decide_subject`` does per request.
"""

from __future__ import annotations

import json
import time
from typing import Any

from charter.domain.cedar_export import export_cedar
from charter.domain.compiled import Snapshot
from charter.domain.person_decisions import evaluate_person, person_context
from charter.domain.subjects import resolve_subject
from decision_estate import Estate


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def person_requests(estate: Estate, count: int) -> list[tuple[str, str, str, Any]]:
    """Requests from people decided on directly: the estate's actions and resources, the
    subject named by e-mail or (half the time) by external id, as an AuthZEN PEP sends it."""
    people = estate.people
    out = []
    for index, (_, action, resource, context, _) in enumerate(estate.requests[:count]):
        person = people[(index * 7919) % len(people)]
        key = person["external_ids"][0] if index % 2 else person["email"]
        out.append((key, action, resource, context))
    return out


def in_process_people(
    snapshot: Snapshot, requests: list[tuple[str, str, str, Any]], now_us: int
) -> dict[str, Any]:
    """What ``DecisionService.decide_subject`` does per request: resolve, then decide."""
    for key, action, resource, context in requests[:2000]:
        evaluate_person(
            snapshot, resolve_subject(snapshot, "user", key), action, resource, context, now_us
        )
    clock = time.perf_counter_ns
    latencies, allowed = [], []
    for key, action, resource, context in requests:
        begin = clock()
        subject = resolve_subject(snapshot, "user", key)
        decision = evaluate_person(snapshot, subject, action, resource, context, now_us)
        latencies.append((clock() - begin) / 1000)
        allowed.append(decision.allowed)
    latencies.sort()
    return {
        "p50_us": percentile(latencies, 0.5),
        "p99_us": percentile(latencies, 0.99),
        "allowed_share": sum(allowed) / len(allowed),
        "decisions": allowed,
    }


def cedar_people(
    snapshot: Snapshot,
    requests: list[tuple[str, str, str, Any]],
    ours: list[bool],
    sample: int,
    now_us: int,
    budget: float = 60.0,
) -> dict[str, Any]:
    """The same person requests, a sample, through cedarpy: decisions must agree.
    Cedar takes seconds per request on a large estate, so the sample stops at ``budget``."""
    import cedarpy

    export = export_cedar(snapshot)
    policies = cedarpy.PolicySet.from_str(export.policies)
    entities = cedarpy.Entities.from_json_str(json.dumps(export.entities))
    step = max(1, len(requests) // sample)
    latencies, disagree, errors = [], 0, 0
    deadline = time.monotonic() + budget
    for index in list(range(0, len(requests), step))[:sample]:
        if latencies and time.monotonic() > deadline:
            break
        key, action, resource, context = requests[index]
        subject = resolve_subject(snapshot, "user", key)
        full = person_context(context or {}, subject)
        who = subject.key or key
        request = export.request(who, action, resource, full, None, now_us, principal="Person")
        begin = time.perf_counter_ns()
        result = cedarpy.is_authorized(request, policies, entities)
        latencies.append((time.perf_counter_ns() - begin) / 1000)
        disagree += result.allowed != ours[index]
        errors += bool(result.diagnostics.errors)
    latencies.sort()
    return {
        "sample": len(latencies),
        "p50_us": percentile(latencies, 0.5),
        "disagree": disagree,
        "errors": errors,
    }
