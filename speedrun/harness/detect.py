"""Whether a variant is a harness variant, decided from its source before anything runs."""

from __future__ import annotations

import re

# `[^\S\n]*+` (not `\s*`): leading blanks of one line only, possessive, so the scan is linear
# however many blank lines a hostile source holds.
_IMPORT_RE = re.compile(
    r"^[^\S\n]*+(from\s+speedrun\s+import\s+[^\n]*\bharness\b|import\s+speedrun\.harness\b"
    r"|from\s+speedrun\.harness(?:\.\w+)*\s+import\b)",
    re.MULTILINE,
)


def is_harness_variant(source: str) -> bool:
    """Whether a variant's source imports the harness (decided before it runs)."""
    return bool(_IMPORT_RE.search(source))
