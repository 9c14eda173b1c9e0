"""The compute and machine fields are untrusted text too (issue 17): a signed bundle whose
peak source, FLOPs method, host name, GPU throttle reasons and variant name carry script
and HTML payloads renders them escaped on the run, record, submission and track pages
(the FLOPs chart's tooltips included) and returns them unchanged in the JSON twins. The
bundles go through a job's upload route, as a compromised runner's would."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from support import machines
from support.bundles import make_bundle
from support.claims import run_claim, submitter_token

from server.app import create_app
from server.config import load_settings
from server.services.runners import add_runner

SHORT = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
LONG = SHORT + " <svg onload=alert(3)> </pre><b id=injected>bold</b> {{ 7*7 }}"
RAW_FORBIDDEN = ["<script>alert", "<img src=x", "<svg onload", "<b id=injected"]
A = "from speedrun import harness\nprint('xss compute')\n"


def _hostile_bundle(key: Ed25519PrivateKey, job: dict[str, Any], i: int) -> bytes:
    compute = machines.compute(peak_source=LONG) | {"flops_method": LONG}
    telemetry = machines.telemetry(steal=0.3)
    telemetry["gpu"] = {
        "count": 1,
        "min_sm_clock_mhz": 900.0,
        "max_temperature_c": 91.0,
        "mean_power_w": 690.0,
        "power_limit_w": 700.0,
        "throttled_share": 0.5,
        "reasons": [SHORT, "hw_slowdown"],
    }
    return make_bundle(
        key,
        source=A,
        job=job,
        time_ms=1000.0 + i,
        val_loss=1.5,
        seed=i,
        name=SHORT,
        hardware=machines.hardware(f"{SHORT}-{i % 2}"),
        compute=compute,
        telemetry=telemetry,
        extra_members=machines.telemetry_members(20),
    )


def test_hostile_compute_and_machine_fields_render_escaped(tmp_path) -> None:
    app = create_app(load_settings(db=f"sqlite:///{tmp_path / 'x.db'}"))
    key = Ed25519PrivateKey.generate()
    with app.state.speedrun.db.write() as s:
        add_runner(s, "xss-runner", key.public_key())
    token = submitter_token(app.state.speedrun.db)
    with TestClient(app) as client:
        done = run_claim(
            client, key, token, A, "cpu-tiny", lambda job, i: _hostile_bundle(key, job, i)
        )
        [record] = done.records
        run_id = done.answers[0]["run_id"]
        pages = {
            "run": f"/runs/{run_id}",
            "record": f"/records/{record}",
            "submission": f"/submissions/{done.submission['id']}",
            "track": "/tracks/cpu-tiny",
        }
        for name, path in pages.items():
            html = client.get(path).text
            for bad in RAW_FORBIDDEN:
                assert bad not in html, (name, bad)
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, name
        run_html = client.get(pages["run"]).text
        assert "&lt;svg onload=alert(3)&gt;" in run_html  # the peak source and FLOPs method
        assert "{{ 7*7 }}" in run_html  # shown, never evaluated
        assert "GPU throttled: throttled in 50% of samples (reasons: &#34;&gt;&lt;img" in run_html
        track_html = client.get(pages["track"]).text
        assert '<svg class="chart scatter"' in track_html  # its tooltips carry the name
        public = client.get(f"/api/v1/runs/{run_id}").json()
        assert public["compute"]["peak_source"] == LONG
        assert public["machine"]["label"] == f"{SHORT}-0"
        assert public["telemetry"]["gpu"]["reasons"] == f"{SHORT}, hw_slowdown"
        entry = client.get(f"/api/v1/records/{record}").json()
        assert entry["compute"]["peak_source"] == LONG
    app.state.speedrun.db.dispose()
