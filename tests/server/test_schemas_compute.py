"""The compute schemas serialize as the API documents them (server.schemas.compute), and a
verification's `verdict` tells a drift on a machine in bad shape from a plain one."""

from __future__ import annotations

from datetime import UTC, datetime

from server.schemas.compute import ComputePublic, ConditionPublic
from server.schemas.records import VerificationPublic


def _verification(**kw: object) -> VerificationPublic:
    base = {
        "id": 1, "status": "drifted", "n_runs": 3, "time_ms_mean": 1300.0,
        "time_ms_std": 5.0, "val_loss_mean": 1.5, "p_value": 0.001, "image_digest": None,
        "runner": "r", "job_id": 2, "detail": "d", "created_at": datetime.now(UTC),
    }  # fmt: skip
    return VerificationPublic.model_validate(base | kw)


def test_the_verdict_names_the_cause() -> None:
    assert _verification().verdict == "drifted"
    cond = ConditionPublic(name="cpu_steal", detail="x", figures={"mean_steal_share": 0.3})
    v = _verification(cause="machine conditions", conditions=[cond])
    dumped = v.model_dump(mode="json")
    assert dumped["verdict"] == "drifted: machine conditions"
    assert dumped["conditions"][0]["figures"] == {"mean_steal_share": 0.3}
    assert _verification(status="reproduced").verdict == "reproduced"


def test_compute_says_its_tokens_are_self_reported() -> None:
    c = ComputePublic(
        forward_flops_per_token=1.0, flops_method=None, train_tokens=None,
        train_tokens_source="self-reported", train_tokens_within_ceiling=None,
        training_flops=None, accelerators=None, peak_flops_per_accelerator=None,
        peak_source=None, mfu=None,
    )  # fmt: skip
    assert c.model_dump()["train_tokens_source"] == "self-reported"
