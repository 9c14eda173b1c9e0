"""A real nginx serving a snapshot, for the tests and the serving benchmark: the repository's
own site configuration (docker/nginx/snapshot.conf) with its root, listen address and
upstream substituted, inside a main configuration of ours (`-c`: pid, logs and temp files in
a temporary folder, `daemon off`, 127.0.0.1 at a free port). No system service is involved.
When the tests run as root, the workers still run as `nobody` (nginx's default user), so
the snapshot must be readable by everyone: `readable_dir` makes such a folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SITE_CONF = REPO / "docker" / "nginx" / "snapshot.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")


def nginx_missing() -> str | None:
    if not Path(NGINX).exists() or not MIME_TYPES.exists():
        return f"nginx is not installed ({NGINX}; scripts/system-deps.sh installs it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def readable_dir(prefix: str) -> Path:
    """A new folder under the system's temp folder that nginx's workers can read."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def site_conf(root: Path, port: int, upstream_port: int) -> str:
    """docker/nginx/snapshot.conf, serving `root` on 127.0.0.1:`port`, the server behind it
    on 127.0.0.1:`upstream_port`."""
    text = SITE_CONF.read_text()
    for old, new in (
        ("root /srv/speedrun/snapshot;", f"root {root};"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"),
    ):
        assert text.count(old) == 1, f"{SITE_CONF} no longer has {old!r}"
        text = text.replace(old, new)
    return text


def main_conf(folder: Path, site: Path, workers: int) -> str:
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    temps = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes {workers};
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
{temps}
    include {site};
}}
"""


@contextmanager
def serving(
    root: Path, *, upstream_port: int, workers: int = 1, port: int | None = None
) -> Iterator[int]:
    """nginx serving the snapshot in `root` (on `port`, else a free one); yields its port."""
    folder = Path(tempfile.mkdtemp(prefix="nginx-"))
    port = port or free_port()
    site = folder / "site.conf"
    site.write_text(site_conf(root, port, upstream_port))
    conf = folder / "nginx.conf"
    conf.write_text(main_conf(folder, site, workers))
    args = [NGINX, "-c", str(conf), "-p", str(folder), "-e", str(folder / "error.log")]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {proc.stderr.read() if proc.stderr else ''!r}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nginx did not listen on {port}")
