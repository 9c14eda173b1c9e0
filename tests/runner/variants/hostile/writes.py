"""Hostile: tries to write outside its output directory, to its own source, to the data and
to the installed harness. Prints WRITE <path> <result> lines; fails at the end."""

import os
import sys

TARGETS = [
    sys.argv[0],  # its own source
    os.path.join(os.path.dirname(sys.argv[0]), "second.py"),
    "/speedrun/ctl/config.json",
    "/speedrun/data/injected.bin",
    "/opt/speedrun/speedrun/harness/__init__.py",
    "/etc/passwd",
    "/root/.bashrc",
    "/escape",
    "/tmp/scratch",  # allowed: a private tmpfs
    "out-file.txt",  # allowed: the working directory is the output directory
]

if os.environ.get("RANK", "0") == "0":
    for path in TARGETS:
        try:
            with open(path, "a") as f:
                f.write("\n# tampered\n")
            result = "written"
        except OSError as exc:
            result = exc.strerror
        print(f"WRITE {path} {result}", flush=True)
    try:
        os.chmod(sys.argv[0], 0o777)
        print("CHMOD written", flush=True)
    except OSError as exc:
        print(f"CHMOD {exc.strerror}", flush=True)
    sys.exit(1)
