"""Discovery: find the agents, identities and credentials nobody registered.

Each discovery source lives in its own subpackage and produces the canonical
``charter.domain.estate`` records; the store is written in one place, last.
"""
