"""Governance: risk findings over the estate and the agent lifecycle workflows.

Pure parts (no store): :mod:`.facts`, :mod:`.registry`, :mod:`.rules`,
:mod:`.least_privilege`, :mod:`.policy`, :mod:`.posture` scoring, :mod:`.sarif`,
:mod:`.ocsf`. Parts with transactions (services): the loader, the findings
store, reviews, rotation, decommissioning, departures, expiry, JIT access and
the worker. ``charter.services.governance.GovernanceService`` ties them together.
"""
