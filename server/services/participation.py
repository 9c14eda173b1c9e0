"""How to take part, as data (the "take part" page and its JSON twin): the tracks that take
submissions with every rule as `speedrun tracks` prints it, the harness contract a variant
follows (in brief: `speedrun.harness` has it whole), the commands to try a variant locally
and to submit it, and how a submitter gets a token. Everything comes from the track
definitions and the CLI's own names, so the page cannot drift from what the runner enforces.
"""

from __future__ import annotations

from server.schemas.tracks import RuleLine, Step, TakePartPublic, TrackRules
from server.services import catalog
from server.services.read_models import track_public
from speedrun.commands.tracks import rule_lines
from speedrun.harness import CONFIG_ENV, EVENTS_ENV
from speedrun.tracks import Track

TOKEN_ENV = "SPEEDRUN_TOKEN"  # what `speedrun submit` reads when --token is not given
CONTRACT = [
    "One file, train_gpt.py, that imports the harness (`from speedrun import harness`). The "
    "runner sees that before it starts anything; a script that does not is a legacy variant: "
    "timed as a whole process, its loss self-reported, never a record.",
    f"It reads its configuration from the JSON file named by ${CONFIG_ENV} (`harness.start` "
    "or `harness.load_config`): the track's scale (model shape, sequence length, batch, token "
    "ceiling), the training shards, a dev shard for its own loss reports, and where to export "
    "the model. The scored validation tokens are never given to it.",
    f"It announces events on the channel named by ${EVENTS_ENV} (`harness.Harness`): hello, "
    "warmup_start, warmup_end (the clock starts here, and only then can it read its training "
    "shards), val_pause / val_resume (untimed up to the track's share), done (with its own "
    "train_time_ms) and export.",
    "It exports the final model with torch.export to the path the configuration names; the "
    "runner hashes the file at the export event and evaluates it in a separate process that "
    "alone sees the validation slice (and, on held-out tracks, a private one).",
    "It keeps the track's limits (the `limits` and `fails` lines above): untimed caps, the "
    "wall clock, its own time within the tolerance of the runner's clock and its own loss "
    "within the tolerance of the independent one. The runner's figures are the official ones.",
]


def open_tracks() -> list[Track]:
    """The visible tracks that take submissions now (their live versions)."""
    found = [catalog.live_track(t.id) for t in catalog.tracks()]
    return [t for t in found if catalog.closed_reason(t, submission=True) is None]


def take_part(base_url: str) -> TakePartPublic:
    base = base_url.rstrip("/")
    tracks = open_tracks()
    shown = {t.key for t in tracks}
    example = next((t for t in tracks if t.hardware.accelerator == "cpu"), None)
    key = example.key if example else (tracks[0].key if tracks else "TRACK")
    runs = example.rules.runs_required if example else 3
    return TakePartPublic(
        tracks=[
            TrackRules(
                track=track_public(t), rules=[RuleLine(label=a, text=b) for a, b in rule_lines(t)]
            )
            for t in tracks
        ],
        closed=[t.key for t in catalog.tracks() if t.key not in shown],
        contract=CONTRACT,
        try_locally=_try_steps(key, runs),
        submit=_submit_steps(key, base),
        token=(
            "Submitting needs an API token, which this deployment's operator creates for "
            "each submitter with `speedrun admin token-create USER` (printed once, stored "
            "hashed; `speedrun admin token-revoke` ends it). Ask the operator for one and "
            f"pass it as --token or in ${TOKEN_ENV}; it goes in an `Authorization: Bearer` "
            "header. Trying a variant locally needs no token."
        ),
    )


def _try_steps(key: str, runs: int) -> list[Step]:
    return [
        Step(
            what="install the speedrun CLI from a checkout of this project (Python 3.11)",
            command="pip install -e '.[train]'",
        ),
        Step(
            what="build or download the track's data (checked by sha256)",
            command=f"speedrun data fetch --track {key}",
        ),
        Step(
            what="run the variant as the runner does: signed bundles, the statistics and a "
            "verdict (`--backend docker` runs it sandboxed, as official runs are; "
            "`speedrun image build cpu` first)",
            command=f"speedrun run train_gpt.py --track {key} --runs {runs} --backend local",
        ),
        Step(
            what="compare it with another variant, runs interleaved (A/B), with the speedup "
            "and its confidence interval",
            command=f"speedrun run train_gpt.py --track {key} --baseline baseline.py --backend local",
        ),
        Step(
            what="check one of its bundles offline (signature, hashes, rules)",
            command="speedrun verify runs/RUN_ID.bundle.tar.gz",
        ),
    ]


def _submit_steps(key: str, base: str) -> list[Step]:
    name = "Muon improvements"
    return [
        Step(
            what="submit it as a record attempt, with a human name (the leaderboard shows it); "
            "this server's agents run it under the track's rules, and --wait follows it",
            command=f"speedrun submit train_gpt.py --track {key} --server {base} --token "
            f'"${TOKEN_ENV}" --name "{name}" --description "what it changes" --wait',
        ),
        Step(
            what="or through the API (the answer's Location is the submission's JSON; its page "
            "is /submissions/ID)",
            command=f'curl -X POST {base}/api/v1/submissions -H "Authorization: Bearer ${TOKEN_ENV}" '
            f'-H \'Content-Type: application/json\' -d \'{{"track": "{key}", "name": "{name}", '
            '"source": "...the file\'s text..."}\'',
        ),
    ]
