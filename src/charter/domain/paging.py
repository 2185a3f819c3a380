"""How far a page may reach: bounds every list interface validates before the store binds them.

A page offset or a sequence cursor of 2**63 overflowed SQLite's integer binding
(``OverflowError``, a 500); the API, console and CLI refuse it as bad input.
"""

from __future__ import annotations

#: The largest page offset a list accepts.
MAX_OFFSET = 2**31 - 1
#: The largest sequence number a cursor may name (a signed 64-bit column).
MAX_SEQ = 2**63 - 1
