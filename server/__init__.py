"""The speedrun server: a FastAPI app over SQLAlchemy that ingests signed result bundles,
keeps every run, groups runs into attempts, decides records by the track's statistical rules,
and hands submission and re-verification jobs to runner agents.

Layers, each in its own subpackage: `config` (settings), `db` (engine, sessions, migrations),
`models` (tables), `services` (all SQL), `schemas` (JSON shapes), `routes` (HTTP), `deps`
(injected dependencies), `problems` (the one error shape). Nothing happens at import time:
`server.app.create_app(settings)` builds everything.
"""
