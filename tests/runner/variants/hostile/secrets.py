"""Hostile: hunts for the runner's signing key and secrets in the environment and the files
it can see. Prints BREACH with what it found; else CONTAINED and fails."""

import os
import stat
import sys

REVERSED_NEEDLES = []  # FILL: secrets planted on the host, reversed (so this file holds none)
NEEDLES = [n[::-1] for n in REVERSED_NEEDLES]
KEY_PATHS = []  # FILL: where the signing key lies on the host
SKIP = ("/proc", "/sys", "/dev", "/usr", "/opt/venv", "/var/lib", "/var/cache")


def hits_in(text, where):
    return [f"{where}: {n[:12]}..." for n in NEEDLES if n in text]


def scan():
    found = hits_in(repr(dict(os.environ)), "environment")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            for part in ("environ", "cmdline"):
                try:
                    with open(f"/proc/{pid}/{part}", "rb") as f:
                        found += hits_in(f.read().decode(errors="replace"), f"/proc/{pid}/{part}")
                except OSError:
                    pass
    for path in KEY_PATHS:
        if os.path.exists(path):
            found.append(f"key path visible: {path}")
    for folder, dirs, files in os.walk("/"):
        if folder.startswith(SKIP):
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(folder, name)
            try:
                info = os.stat(path, follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode) or info.st_size > 2_000_000:
                    continue
                with open(path, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            found += hits_in(text, path)
            if "PRIVATE KEY-----" in text and not path.endswith(".py"):
                found.append(f"a private key in {path}")
    return found


if os.environ.get("RANK", "0") == "0":
    found = scan()
    if found:
        print("BREACH " + " | ".join(found), flush=True)
        sys.exit(0)
    print(
        f"CONTAINED: no secret among {len(os.environ)} env vars and the visible files", flush=True
    )
    sys.exit(1)
