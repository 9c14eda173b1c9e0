"""The exception hierarchy of the shared core, and the CLI exit codes they map to.

    SpeedrunError                 base of everything this project raises on purpose
    ├── UsageError                bad arguments or configuration (exit 2)
    ├── TrackError                unknown track or version, invalid track definition
    ├── DataError                 data missing or not what it should be
    │   ├── ShardError            a .bin shard that cannot be read (names file and problem)
    │   └── IntegrityError        a file whose sha256 does not match its pin
    ├── KeyFileError              a signing/public key file missing or not Ed25519 (exit 2)
    ├── LogParseError             a training log that cannot be parsed (names source and reason)
    ├── BundleError               a result bundle that cannot be read (exit 4)
    │   └── BundleInvalid         readable, but fails signature/hash/schema/rule checks (exit 3)
    └── RuleViolation             a run that broke the track's rules

Each carries the data a caller needs to report it; `exit_code` is what the CLI exits with.
"""

from __future__ import annotations


class SpeedrunError(Exception):
    """Base class; `exit_code` is the CLI exit status for this kind of failure."""

    exit_code: int = 1


class UsageError(SpeedrunError):
    exit_code = 2


class TrackError(SpeedrunError):
    exit_code = 2


class DataError(SpeedrunError):
    exit_code = 1


class ShardError(DataError):
    """A shard file that cannot be read; the message names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class IntegrityError(DataError):
    """A file whose sha256 differs from the pinned one."""

    def __init__(self, path: str, expected_sha256: str, actual_sha256: str) -> None:
        super().__init__(
            f"{path}: sha256 mismatch (expected {expected_sha256}, got {actual_sha256})"
        )
        self.path = path
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


class KeyFileError(SpeedrunError):
    exit_code = 2


class LogParseError(SpeedrunError):
    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class BundleError(SpeedrunError):
    """The bundle file cannot be read at all (not an archive, truncated, missing manifest)."""

    exit_code = 4


class BundleInvalid(BundleError):
    """The bundle reads, but a check failed: signature, member hash, schema or track rule."""

    exit_code = 3

    def __init__(self, reason: str, *, code: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class RuleViolation(SpeedrunError):
    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"rule {rule!r} violated: {detail}")
        self.rule = rule
        self.detail = detail
