"""What a what-if replays: a proposed charter, org policy or roles file, parsed.

The kind is given or recognised from the document's fields (``roles`` → roles;
``deny`` without ``name`` → org policy; anything else is read as a charter), and
the document is then parsed by that kind's own strict parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from charter.domain.charter import CharterSpec
from charter.domain.charter_parsing import load_document, parse_charter
from charter.domain.org_policy import OrgPolicy, parse_org_policy
from charter.domain.roles import RolesFile, parse_roles
from charter.errors import InvalidInput


class ProposalKind(StrEnum):
    CHARTER = "charter"
    POLICY = "policy"
    ROLES = "roles"


@dataclass(frozen=True, slots=True)
class ParsedProposal:
    kind: ProposalKind
    value: CharterSpec | OrgPolicy | RolesFile


def recognise(document: dict[str, Any]) -> ProposalKind:
    if "roles" in document:
        return ProposalKind.ROLES
    if "deny" in document and "name" not in document:
        return ProposalKind.POLICY
    return ProposalKind.CHARTER


def parse_proposal_document(
    document: Any, kind: ProposalKind | str | None = None
) -> ParsedProposal:
    if not isinstance(document, dict):
        raise InvalidInput(
            "the proposal must be a mapping (a charter, org policy or roles file)", field="document"
        )
    if kind is None:
        chosen = recognise(document)
    else:
        try:
            chosen = ProposalKind(kind)
        except ValueError:
            raise InvalidInput(
                f"kind must be one of {', '.join(k.value for k in ProposalKind)}, not {kind!r}",
                field="kind",
            ) from None
    if chosen is ProposalKind.ROLES:
        return ParsedProposal(chosen, parse_roles(document))
    if chosen is ProposalKind.POLICY:
        return ParsedProposal(chosen, parse_org_policy(document))
    return ParsedProposal(chosen, parse_charter(document))


def parse_proposal_text(
    text: str | bytes, *, kind: ProposalKind | str | None = None, source: str = "proposal"
) -> ParsedProposal:
    return parse_proposal_document(load_document(text, source=source), kind)
