"""The runner: executes a training variant under a track's rules and signs the result.

    cli.py          `speedrun run | keys | verify | image` (registered in speedrun.cli)
    session.py      N attempts or an interleaved A/B session, with the summary statistics
    attempt.py      one attempt end to end: workspace, launch, clock, evaluation, bundle;
                    its parts: attempt_context (request and outcome), attempt_specs (mounts,
                    harness view, process specs), attempt_eval (export watch, evaluation),
                    attempt_bundle (members, manifest, rules)
    workspace.py    the per-attempt directories, the event FIFO and the derived data files
    events.py       the event channel: harness events timestamped on arrival
    timing.py       the official time from the runner's timestamps (untimed time capped)
    backends/       where the processes run: `docker` (sandboxed container; its settings in
                    backends/sandbox.py), `local`; the output-folder guard
    evaluate.py     the independent evaluator (torch; run in its own container/process)
    pt2check.py     the model archive checked without torch (pt2graph: its graph; pt2fields:
                    the field validators), and the sanitized copy the evaluator loads
    client.py       the server's HTTP client (answers.py: its answers, typed)
    probe.py        the software fingerprint of an image or interpreter (run inside it)
    fingerprint.py  hardware fingerprint of the host (nvidia-smi, CPU), data digests
    manifest.py     the bundle's manifest and members from an attempt's outcome
    progress.py     the live display of step, loss and elapsed time
    image.py        builds the CPU image (debootstrap, no registry) and the CUDA image
    podman.py       starts podman's Docker-compatible service for tests and laptops

Nothing here imports `server`, and `import runner` (any module but `evaluate`'s internals)
works without torch: torch is imported lazily where a model is loaded.
"""

__version__ = "0.1.0"
