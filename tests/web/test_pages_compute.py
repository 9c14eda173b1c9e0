"""Compute and machines on the pages (web.pages.compute), rendered from real signed bundles
uploaded through jobs: the run page shows FLOPs, training FLOPs marked as resting on
self-reported tokens, MFU with its peak's source, the calibration, the machine conditions
the server found and a telemetry chart from `telemetry.jsonl`; the record and submission
pages group runs by machine; the track page charts time against training FLOPs; bundles
without any of it still render."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from support import machines
from support.bundles import make_bundle
from support.claims import run_claim, submitter_token

from server.app import create_app
from server.config import load_settings
from server.schemas.compute import TelemetryPoint, TelemetrySeries
from server.schemas.runs import RunBrief
from server.services.runners import add_runner
from web.pages.compute import by_machine, telemetry_chart

TRACK = "cpu-tiny"
A = "from speedrun import harness\nprint('compute pages')\n"


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[TestClient, Ed25519PrivateKey, str]]:
    app = create_app(load_settings(db=f"sqlite:///{tmp_path / 'w.db'}"))
    key = Ed25519PrivateKey.generate()
    with app.state.speedrun.db.write() as s:
        add_runner(s, "ci-runner", key.public_key())
    token = submitter_token(app.state.speedrun.db)
    with TestClient(app) as client:
        yield client, key, token
    app.state.speedrun.db.dispose()


def _claim(client, key, token, hosts: list[str], *, measured: bool = True, steal: float = 0.0):
    def make(job: dict[str, Any], i: int) -> bytes:
        extra: dict[str, Any] = {}
        members = None
        if measured:
            extra = {
                "compute": machines.compute(time_ms=1000.0 + i),
                "telemetry": machines.telemetry(steal=steal),
            }
            members = machines.telemetry_members(90, steal=steal)
        return make_bundle(
            key,
            source=A,
            job=job,
            time_ms=1000.0 + i,
            val_loss=1.5 + i / 1000,
            seed=i,
            hardware=machines.hardware(hosts[i]),
            extra_members=members,
            **extra,
        )

    return run_claim(client, key, token, A, TRACK, make, runs=len(hosts))


def test_the_run_page_shows_compute_calibration_conditions_and_telemetry(site) -> None:
    client, key, token = site
    done = _claim(client, key, token, ["node-a"] * 3, steal=0.2)
    run_id = done.answers[0]["run_id"]
    public = client.get(f"/api/v1/runs/{run_id}").json()
    assert public["compute"]["forward_flops_per_token"] == 2.5e6
    assert public["compute"]["train_tokens_source"] == "self-reported"
    assert public["compute"]["peak_source"] == "calibration: matmul rate of this machine"
    assert public["calibration"]["reference_matmul_flops_per_s"] == 4.0e10
    assert [c["name"] for c in public["conditions"]] == ["cpu_steal"]
    assert public["machine"]["label"] == "node-a"
    series = public["telemetry_series"]
    assert series["samples"] == 90 and len(series["points"]) == 90
    html = client.get(f"/runs/{run_id}").text
    assert "2.5 MFLOP" in html and "15 GFLOP" in html  # 3 x 2.5e6 x 2,000 tokens
    assert "as the variant reports them (self-reported)" in html
    assert "calibration: matmul rate of this machine" in html
    assert 'data-field="conditions"' in html and "mean steal 20% of CPU time" in html
    chart = re.search(r'<svg class="chart lines".*?</svg>', html[html.index('id="h-compute"') :])
    assert chart and chart.group(0).count("<polyline") == 3
    assert "Machine telemetry over the run, 90 samples" in chart.group(0)


def test_below_calibration_is_said_on_the_run_page(site) -> None:
    client, key, _ = site
    weak = machines.hardware("slow-node", cal=machines.calibration(memory=1.0e9, below=True))
    bundle = make_bundle(key, source=A, hardware=weak)
    answer = client.post("/api/v1/runs", content=bundle)
    assert answer.status_code == 201, answer.text
    html = client.get(f"/runs/{answer.json()['run_id']}").text
    assert "This machine was below its calibration" in html
    assert "memory 1 GB/s vs reference 8 GB/s (12%)" in html


def test_record_and_submission_pages_group_runs_by_machine(site) -> None:
    client, key, token = site
    done = _claim(client, key, token, ["node-a", "node-b", "node-a"])
    [record] = done.records
    html = client.get(f"/records/{record}").text
    groups = re.findall(r'<tbody data-machine="(m-[0-9a-f]{16})">', html)
    assert len(groups) == 2
    assert "Machine node-a" in html and "Machine node-b" in html
    assert html.index("Machine node-a") < html.index("Machine node-b")
    assert 'data-field="machines">2: the tests ran over one mean per machine' in html
    assert 'data-field="compute">2.5 MFLOP/token forward' in html
    sub = client.get(f"/submissions/{done.submission['id']}").text
    assert len(re.findall(r'<tbody data-machine="m-', sub)) == 2


def test_the_track_page_charts_time_against_training_flops(site) -> None:
    client, key, token = site
    _claim(client, key, token, ["node-a"] * 3)
    html = client.get(f"/tracks/{TRACK}").text
    assert 'id="h-flops"' in html
    chart = re.search(r'<svg class="chart scatter".*?</svg>', html)
    assert chart and chart.group(0).count("<circle") == 1
    assert "15 GFLOP" in chart.group(0)
    board = client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()
    compute = board["entries"][0]["compute"]
    assert compute["training_flops"] == pytest.approx(1.5e10) and compute["runs"] == 3


def test_bundles_without_compute_or_telemetry_still_render(site) -> None:
    client, key, token = site
    done = _claim(client, key, token, ["node-a"] * 3, measured=False)
    run_id = done.answers[0]["run_id"]
    html = client.get(f"/runs/{run_id}").text
    assert "No compute figures" in html and 'id="machine-conditions"' not in html
    assert '<svg class="chart lines"' in html  # the loss curve alone
    assert client.get(f"/api/v1/runs/{run_id}").json()["compute"] is None
    track = client.get(f"/tracks/{TRACK}").text
    assert 'id="h-flops"' not in track


def _brief(run_id: str, machine: dict[str, str] | None) -> RunBrief:
    now = datetime.now(UTC)
    return RunBrief.model_validate(
        {
            "run_id": run_id, "attempt_id": 1, "origin": "verified", "purpose": "claim",
            "status": "completed", "official": True, "counts": True, "backend": "docker",
            "time_ms": 1.0, "val_loss": 1.0, "val_loss_source": "x", "claimed_time_ms": None,
            "seed": 0, "runner": None, "hardware_class": None, "accelerator_count": None,
            "image_digest": None, "machine": machine, "ab": None, "started_at": now,
            "finished_at": now, "ingested_at": now, "url": "/",
        }
    )  # fmt: skip


def test_by_machine_keeps_first_sight_order_and_an_unknown_group() -> None:
    a, b = {"key": "m-a", "label": "a"}, {"key": "m-b", "label": "b"}
    groups = by_machine([_brief("1", b), _brief("2", a), _brief("3", b), _brief("4", None)])
    assert [(g.key, [r.run_id for r in g.runs]) for g in groups] == [
        ("m-b", ["1", "3"]),
        ("m-a", ["2"]),
        (None, ["4"]),
    ]


def test_telemetry_chart_draws_shares_and_nothing_without_samples() -> None:
    assert telemetry_chart(None, 2, "t") == ""
    assert telemetry_chart(TelemetrySeries(samples=0, skipped=3, points=[]), 2, "t") == ""
    points = [
        TelemetryPoint(t_s=i, load1=4.0, busy_share=0.5, steal_share=None, iowait_share=0.0)
        for i in range(5)
    ]
    svg = str(telemetry_chart(TelemetrySeries(samples=5, skipped=0, points=points), 2, "t"))
    assert svg.count("<polyline") == 2  # steal has no values: no line
    assert "<title>load per CPU</title>" in svg
