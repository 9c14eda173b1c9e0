"""The queue matches hardware: an agent declares its accelerator kind, count and GPU model
when it claims, and gets only jobs whose track it fits; other jobs stay pending for an agent
that does. SQLite and PostgreSQL, through signed claims on the real app, plus what the real
agent sends (`runner.agent.Agent.environment`) against a live server."""

from __future__ import annotations

import json
import os

import pytest
from support.claims import signed, submit
from support.serving import live_server

from runner.agent import Agent, AgentOptions
from runner.client import ServerClient
from server.schemas.jobs import ClaimIn
from server.services import catalog
from server.services.hardware import UNDECLARED, AgentHardware
from speedrun.signing import init_keypair, load_private_key

CLAIM = "/api/v1/jobs/claim"
H100 = "NVIDIA H100 80GB HBM3"
EIGHT_H100 = {"accelerator": "cuda", "accelerator_count": 8, "gpu_model": H100}


def claim_as(client, key, hardware: dict | None):
    body = b"" if hardware is None else json.dumps(hardware).encode()
    answer = signed(client, key, "POST", CLAIM, body)
    assert answer.status_code in (200, 204), answer.text
    return None if answer.status_code == 204 else answer.json()["job"]["track"]["id"]


@pytest.fixture
def queue(client, token):
    """One pending job per live runner track, the GPU ones oldest (a CPU agent must pass
    them by): 8x H100, any one GPU, then cpu-tiny."""
    for track in ("gpt2-124m-8xh100", "gpt2-124m-1xgpu", "cpu-tiny"):
        submit(client, token, f"print({track!r})\n", track)


def test_a_cpu_agent_never_claims_a_gpu_job(client, runner_key, queue):
    cpu = {"accelerator": "cpu", "accelerator_count": 64}
    assert claim_as(client, runner_key, cpu) == "cpu-tiny"
    assert claim_as(client, runner_key, cpu) is None  # the GPU jobs stay pending
    states = {j["track"]["id"]: j["state"] for j in client.get("/api/v1/jobs").json()}
    assert states == {
        "cpu-tiny": "RUNNING",
        "gpt2-124m-1xgpu": "PENDING",
        "gpt2-124m-8xh100": "PENDING",
    }


def test_an_agent_that_declares_nothing_is_taken_for_a_cpu_agent(client, runner_key, queue):
    assert claim_as(client, runner_key, None) == "cpu-tiny"
    assert claim_as(client, runner_key, {"runner_version": "0.1"}) is None


@pytest.mark.parametrize(
    ("hardware", "gets"),
    [
        ({"accelerator": "cuda", "accelerator_count": 1, "gpu_model": "NVIDIA A100"}, ["1xgpu"]),
        ({"accelerator": "cuda", "accelerator_count": 8, "gpu_model": "NVIDIA A100"}, ["1xgpu"]),
        ({"accelerator": "cuda", "accelerator_count": 4, "gpu_model": H100}, ["1xgpu"]),
        ({"accelerator": "cuda", "gpu_model": H100}, ["1xgpu"]),  # count undeclared: one
        (EIGHT_H100, ["8xh100", "1xgpu"]),
        ({"accelerator": "cpu", "accelerator_count": 1}, []),  # cpu-tiny runs 2 processes
    ],
    ids=["1xA100", "8xA100", "4xH100", "H100-uncounted", "8xH100", "1-core"],
)
def test_each_agent_gets_the_jobs_its_hardware_fits(client, runner_key, queue, hardware, gets):
    got = []
    while (track := claim_as(client, runner_key, hardware)) is not None:
        got.append(track.removeprefix("gpt2-124m-"))
    assert got == gets


def test_an_undeclared_gpu_model_fits_no_track_that_names_one():
    for track in catalog.all_runner_tracks():
        fits = AgentHardware("cuda", 8, None).fits(track.hardware)
        assert fits == (
            track.hardware.accelerator == "cuda" and not track.hardware.gpu_model_pattern
        )
        assert UNDECLARED.fits(track.hardware) == (track.hardware.accelerator == "cpu")


def test_the_real_agent_declares_its_hardware(settings, db, runner_key, token, tmp_path):
    """`speedrun agent`'s claim body, from `Agent.environment()`: the server takes it, and a
    CPU agent leases the CPU job and leaves the GPU job."""
    init_keypair(tmp_path / "agent.key")
    key = load_private_key(tmp_path / "agent.key")
    from server.services.runners import add_runner

    with db.write() as session:
        add_runner(session, "agent", key.public_key())
    agent = Agent(
        AgentOptions(
            server="http://unused", key_path=tmp_path / "agent.key", backend="local",
            work_dir=tmp_path / "work",
        )
    )  # fmt: skip
    env = agent.environment()
    agent.client.close()
    assert env["accelerator"] == "cpu" and env["gpu_model"] is None
    assert env["accelerator_count"] == len(os.sched_getaffinity(0))
    ClaimIn.model_validate(env)
    from server.app import create_app

    app = create_app(settings)
    with live_server(app) as port:
        client = ServerClient(f"http://127.0.0.1:{port}", key=key, token=token)
        client.submit("gpt2-124m-8xh100", "print('gpu')\n", "")
        if env["accelerator_count"] >= 2:
            client.submit("cpu-tiny", "print('cpu')\n", "")
            lease = client.claim(env)
            assert lease is not None and lease.job.track.id == "cpu-tiny"
        assert client.claim(env) is None
        client.close()
    app.state.speedrun.db.dispose()
