"""The open data's columns are documented where its users look: every field of every
Parquet schema carries its meaning, the schema the table's, `data/README.md` lists them all,
and each figure has its evidence level beside it."""

from __future__ import annotations

import json

import pytest

from server.services.opendata import columns


@pytest.mark.parametrize("name", sorted(columns.TABLES))
def test_every_field_is_documented_in_the_schema(name):
    schema = columns.schema(name)
    assert len(set(schema.names)) == len(schema.names)  # no column twice
    for field in schema:
        assert field.metadata and field.metadata[b"description"].strip(), field.name
    docs = json.loads(schema.metadata[b"columns"])
    assert list(docs) == schema.names
    assert schema.metadata[b"description"]


@pytest.mark.parametrize("name", sorted(columns.TABLES))
def test_each_figure_has_its_evidence_level(name):
    names = columns.schema(name).names
    figures = {"time_ms": "time_evidence", "val_loss": "val_loss_evidence"}
    figures |= {"time_ms_mean": "time_evidence", "val_loss_mean": "val_loss_evidence"}
    figures |= {"claimed_time_ms": ("claimed_time_evidence", "claimed_evidence")}
    for figure, evidence in figures.items():
        if figure in names:
            wanted = (evidence,) if isinstance(evidence, str) else evidence
            assert any(e in names for e in wanted), f"{name}.{figure} has no evidence column"


def test_readme_lists_every_column_and_evidence_level():
    text = columns.readme()
    for name, (cols, _) in columns.TABLES.items():
        assert f"## {name}.parquet" in text
        for c in cols:
            assert f"| `{c.name}` |" in text
    for level in columns.EVIDENCE_LEVELS:
        assert f"`{level}`" in text
    assert "pandas.read_parquet" in text and "duckdb" in text.lower()
