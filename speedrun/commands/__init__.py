"""CLI command modules of the shared core (each exposes `register(subparsers)`)."""
