"""Test helpers shared across the suite: stand-ins for external services (no test reaches out)."""
