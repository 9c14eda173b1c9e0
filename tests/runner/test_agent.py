"""runner.agent against scripted server answers (an httpx transport; a real server drives the
agent in tests/server and tests/e2e): the typed claim and upload answers reach the spool, and
a malformed answer stops at the client with the field it got wrong, not a KeyError inside."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server_answers import INGESTED, JOB, LEASE, scripted, with_field

from runner.agent import Agent, AgentOptions, heartbeat_interval_s
from runner.client import MalformedAnswerError, ServerClient, parse_job
from runner.keys import init_key


def agent_with(tmp_path: Path, *answers: httpx.Response) -> tuple[Agent, list[str]]:
    key_path = tmp_path / "agent.key"
    init_key(key_path)
    lines: list[str] = []
    agent = Agent(
        AgentOptions(
            server="http://server",
            key_path=key_path,
            backend="local",
            work_dir=tmp_path / "work",
            log=lines.append,
        )
    )
    agent.client.close()
    transport, _ = scripted(*answers)
    agent.client = ServerClient("http://server", key=agent.key, transport=transport)
    return agent, lines


def test_a_claim_lands_in_the_spool(tmp_path: Path) -> None:
    answer = with_field(LEASE, "baseline_source", "print('record')\n")
    agent, lines = agent_with(tmp_path, httpx.Response(200, json=answer))
    lease = agent._claim()
    assert lease is not None and lease.job_id == 7 and lease.nonce == "N1"
    folder = tmp_path / "work" / "pending" / "7-L1"
    assert (folder / "train_gpt.py").read_text() == LEASE["source"]
    assert (folder / "baseline" / "train_gpt.py").read_text() == "print('record')\n"
    job = json.loads((folder / "job.json").read_text())
    assert job["track"] == {"id": "cpu-tiny", "version": 2} and job["runs_remaining"] == 3
    assert job["lease_expires_at"] == "2025-01-01T00:05:00+00:00"
    assert lines == ["agent: leased job 7 (submission, 3 runs)"]


def test_a_malformed_claim_answer_is_a_clear_error_not_a_key_error(tmp_path: Path) -> None:
    bad = with_field(LEASE, "job.runs_remaining", ...)
    agent, _ = agent_with(tmp_path, httpx.Response(200, json=bad))
    with pytest.raises(MalformedAnswerError) as err:
        agent._claim()
    assert str(err.value) == (
        "malformed server answer: the claim answer's job.runs_remaining: missing"
    )
    assert not any((tmp_path / "work" / "pending").iterdir())  # nothing spooled


@pytest.mark.parametrize(
    ("answer", "where", "said"),
    [
        (INGESTED, "acked", "agent: run r1 stored (new)"),
        (with_field(INGESTED, "run_id", 1), "rejected", "(malformed-answer)"),
    ],
)
def test_an_upload_answer_moves_the_bundle(
    tmp_path: Path, answer: dict[str, Any], where: str, said: str
) -> None:
    agent, lines = agent_with(tmp_path, httpx.Response(201, json=answer))
    folder = tmp_path / "work" / "pending" / "7-L1"
    folder.mkdir(parents=True)
    bundle = folder / "a.bundle.tar.gz"
    bundle.write_bytes(b"\x1f\x8b")
    assert agent.upload(7, "L1", bundle) is (where == "acked")
    assert (tmp_path / "work" / where / "7-L1" / "a.bundle.tar.gz").exists()
    assert said in lines[-1]


def test_the_heartbeat_interval_follows_the_lease() -> None:
    assert heartbeat_interval_s(parse_job(with_field(JOB, "lease_expires_at", None), "x")) == 30.0
    soon = datetime.fromtimestamp(time.time() + 90, UTC).replace(tzinfo=None).isoformat()
    job = parse_job(with_field(JOB, "lease_expires_at", soon), "heartbeat")
    assert 25.0 < heartbeat_interval_s(job) <= 30.0  # a third of what is left, naive as UTC
    past = parse_job(with_field(JOB, "lease_expires_at", "2000-01-01T00:00:00Z"), "heartbeat")
    assert heartbeat_interval_s(past) == 1.0
