"""Building the runner images: `speedrun image build cpu|cuda` (also `make image-cpu`).

The CPU image needs no registry: its base is a Debian 12 minbase root filesystem made with
debootstrap (python3, python3-venv, ca-certificates) and imported (`podman import`), and
the exact wheels of docker/cpu/requirements.txt are downloaded on the host with pip (which
finds the small CPU torch build through the machine's pip configuration) into a persistent
build context, so the build itself runs with `--network none`.

A build is skipped when an image with the tag already carries the same context digest
(label io.speedrun.context-sha256: Containerfile, pins, wheels and the `speedrun` and
`runner` sources), so tests and repeated `make image-cpu` reuse it.

The CUDA image (docker/cuda) starts from NVIDIA's CUDA runtime image and installs torch from
PyPI: it needs a registry and the internet, neither of which these build machines have.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

from runner.errors import ImageError
from runner.podman import REPO_ROOT, podman_env

BASE_TAG = "localhost/speedrun-base:bookworm"
TAGS = {"cpu": "localhost/speedrun-cpu:latest", "cuda": "localhost/speedrun-cuda:latest"}
CONTEXT_LABEL = "io.speedrun.context-sha256"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
SOURCES = ("speedrun", "runner")


def engine_cli() -> str:
    found = (
        os.environ.get("SPEEDRUN_ENGINE_CLI") or shutil.which("podman") or shutil.which("docker")
    )
    if not found:
        raise ImageError("neither podman nor docker is installed")
    return found


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "speedrun"


def build_image(kind: str, *, tag: str | None = None, progress: bool = True) -> str:
    """Build (or reuse) the image; return its tag."""
    if kind not in TAGS:
        raise ImageError(f"unknown image kind {kind!r} (cpu or cuda)")
    recipe = REPO_ROOT / "docker" / kind
    if not (recipe / "Containerfile").exists():
        raise ImageError(f"{recipe}/Containerfile not found: build from a source checkout")
    tag = tag or TAGS[kind]
    context = cache_dir() / f"build-{kind}"
    prepare_context(recipe, context)
    digest = context_digest(context)
    if image_label(tag, CONTEXT_LABEL) == digest:
        return tag
    previous = image_id(tag)
    if kind == "cpu":
        download_wheels(context / "requirements.txt", context / "wheels", progress=progress)
    args = [
        engine_cli(),
        "build",
        "-f",
        str(context / "Containerfile"),
        "-t",
        tag,
        "--build-arg",
        f"CONTEXT_SHA256={digest}",
    ]
    if kind == "cpu":
        ensure_base_image(progress=progress)
        args += ["--network", "none", "--build-arg", f"BASE={BASE_TAG}"]
    _run([*args, str(context)], "image build", progress=progress)
    if previous and previous != image_id(tag):  # our superseded build, now untagged
        subprocess.run(
            [engine_cli(), "rmi", previous], capture_output=True, env=podman_env(), check=False
        )
    return tag


def prepare_context(recipe: Path, context: Path) -> None:
    """Containerfile, pins and sources into the persistent context (wheels come later)."""
    context.mkdir(parents=True, exist_ok=True)
    for name in ("Containerfile", "requirements.txt"):
        shutil.copyfile(recipe / name, context / name)
    src = context / "src"
    shutil.rmtree(src, ignore_errors=True)
    for package in SOURCES:
        shutil.copytree(
            REPO_ROOT / package,
            src / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache"),
        )


def download_wheels(requirements: Path, dest: Path, *, progress: bool) -> None:
    """The pinned wheels, without dependencies (the pins list them all); already-present
    files are kept, so a rebuild downloads nothing."""
    dest.mkdir(parents=True, exist_ok=True)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-r",
            str(requirements),
            "-d",
            str(dest),
        ],
        "wheel download",
        progress=progress,
    )


def context_digest(context: Path) -> str:
    """Over the Containerfile, the pins and the sources; the pins name the wheels exactly."""
    digest = hashlib.sha256()
    files = [context / "Containerfile", context / "requirements.txt"]
    files += sorted(p for p in (context / "src").rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def image_label(tag: str, label: str) -> str | None:
    result = subprocess.run(
        [
            engine_cli(),
            "image",
            "inspect",
            "--format",
            f'{{{{index .Config.Labels "{label}"}}}}',
            tag,
        ],
        capture_output=True,
        text=True,
        env=podman_env(),
        check=False,
    )
    value = result.stdout.strip()
    return value if result.returncode == 0 and value and value != "<no value>" else None


def image_id(tag: str) -> str | None:
    result = subprocess.run(
        [engine_cli(), "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        env=podman_env(),
        check=False,
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def image_exists(tag: str) -> bool:
    result = subprocess.run(
        [engine_cli(), "image", "inspect", tag], capture_output=True, env=podman_env(), check=False
    )
    return result.returncode == 0


def ensure_base_image(*, progress: bool) -> None:
    """debootstrap a bookworm minbase with python3 and import it as BASE_TAG (once)."""
    if image_exists(BASE_TAG):
        return
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise ImageError("debootstrap is not installed (see scripts/system-deps.sh)")
    if os.geteuid() != 0:
        raise ImageError("building the base image with debootstrap needs root")
    mirror = os.environ.get("SPEEDRUN_DEBIAN_MIRROR", DEBIAN_MIRROR)
    with tempfile.TemporaryDirectory(prefix="speedrun-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(
            [
                debootstrap,
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
                mirror,
            ],
            "debootstrap",
            progress=progress,
        )
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            _run(
                [engine_cli(), "import", "-", BASE_TAG],
                "base image import",
                progress=progress,
                stdin=tar.stdout,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()


def _run(args: list[str], what: str, *, progress: bool, stdin: IO[bytes] | None = None) -> None:
    if progress:
        print(f"[image] {what}: {' '.join(args[:4])} ...", file=sys.stderr, flush=True)
    result = subprocess.run(
        args,
        env=podman_env(),
        stdin=stdin,
        stdout=sys.stderr if progress else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout or b"").decode(errors="replace")[-2000:] if not progress else ""
        raise ImageError(f"{what} failed (exit {result.returncode}) {tail}".strip())
