"""Connectors: one module per source. ``fetch()`` does I/O, ``normalize()`` is pure.

Each connector reads its system's real export format (or its live API) and
returns :class:`~charter.domain.batch.Batch` objects of canonical
``charter.domain.estate`` records; ``charter.services.reconcile`` writes them.
Connectors never touch the store. ``registry.CONNECTORS`` lists them all.
"""

from charter.domain.batch import Batch

__all__ = ["Batch"]
