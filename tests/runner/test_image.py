"""The image recipes: Containerfile structure (the CUDA one cannot be built here), pins,
and the build context digest that decides whether an image is rebuilt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner import image

DOCKER = Path(__file__).resolve().parents[2] / "docker"
INSTRUCTIONS = {"FROM", "ARG", "ENV", "RUN", "COPY", "LABEL", "USER", "WORKDIR", "CMD"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    assert current == "", f"{path}: dangling line continuation"
    out = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        out.append((keyword, args))
    return out


@pytest.mark.parametrize("kind", ["cpu", "cuda"])
def test_containerfiles_are_well_formed(kind: str) -> None:
    steps = instructions(DOCKER / kind / "Containerfile")
    assert {k for k, _ in steps} <= INSTRUCTIONS, {k for k, _ in steps} - INSTRUCTIONS
    froms = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    assert len(froms) == 1
    declared_before_from = {a.split("=")[0] for k, a in steps[: froms[0]] if k == "ARG"}
    for var in re.findall(r"\$\{(\w+)\}", steps[froms[0]][1]):
        assert var in declared_before_from, var
    declared = {a.split("=")[0] for k, a in steps if k == "ARG"} | {"PATH"}
    env_names = set(re.findall(r"(\w+)=", " ".join(a for k, a in steps if k == "ENV")))
    for _, args in steps[froms[0] + 1 :]:
        for var in re.findall(r"\$\{(\w+)\}", args):
            assert var in declared | env_names, f"{kind}: ${{{var}}} is never declared"
    copies = [a.split()[0] for k, a in steps if k == "COPY"]
    assert set(copies) <= {"requirements.txt", "wheels/", "src/"}, copies
    assert ("USER", "1000:1000") in steps  # the sandbox user the runner starts containers as
    assert any(k == "RUN" and "useradd --uid 1000" in a for k, a in steps)
    assert any(k == "LABEL" and image.CONTEXT_LABEL in a for k, a in steps)


@pytest.mark.parametrize("kind", ["cpu", "cuda"])
def test_requirements_are_exact_pins(kind: str) -> None:
    lines = [
        ln.split("#")[0].strip()
        for ln in (DOCKER / kind / "requirements.txt").read_text().splitlines()
    ]
    pins = [ln for ln in lines if ln]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][\w.+-]*", p) for p in pins), pins
    assert "torch==2.13.0" in pins


def test_context_digest_follows_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = tmp_path / "ctx"
    image.prepare_context(DOCKER / "cpu", context)
    first = image.context_digest(context)
    image.prepare_context(DOCKER / "cpu", context)
    assert image.context_digest(context) == first  # rebuilt context, same digest: no rebuild
    assert (context / "src" / "runner" / "evaluate.py").exists()
    assert not list(context.rglob("__pycache__"))
    (context / "src" / "speedrun" / "harness" / "run.py").write_text("# changed\n")
    assert image.context_digest(context) != first
    (context / "wheels").mkdir()
    (context / "wheels" / "x.whl").write_bytes(b"not hashed: the pins name the wheels")
    image.prepare_context(DOCKER / "cpu", context)
    assert image.context_digest(context) == first


def test_unknown_image_kind() -> None:
    with pytest.raises(image.ImageError, match="unknown image kind"):
        image.build_image("tpu")
