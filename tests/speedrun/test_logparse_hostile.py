"""Hostile input for the parsers of untrusted text: `speedrun.logparse` and the history's
README and statistics.md parsers must finish in time linear in the input's size.

Every parse is timed here with `time.perf_counter` and held to a budget that scales with the
input: `BUDGET_S_PER_MB` per megabyte plus `BUDGET_BASE_S` (the hypothesis test: per
kilobyte). Each log case runs twice: as shipped, where every line is cut to MAX_LINE_CHARS
before a regex sees it, and with the cut lifted past the input's size, so that the bound holds
for the patterns themselves and not only thanks to the cut. Before these bounds, a 100 KB
nvidia-smi row of spaces took 26 s (quadratic: 200 KB, some four times that), and a 2 MB log
of 20,000 runs under one large header took six minutes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speedrun import logparse
from speedrun.errors import LogParseError
from speedrun.harness import is_harness_variant
from speedrun.history.readme import parse_readme
from speedrun.history.stats import parse_statistics_md
from speedrun.logparse import MAX_LINE_CHARS, MAX_RUNS, MAX_WARNINGS, parse_log

# Loose enough for a machine busy with other work (0.29 s for 80 KB seen beside a CI run), far
# below any quadratic cost (the old 100 KB row: 26 s).
BUDGET_S_PER_MB = 2.0
BUDGET_BASE_S = 1.0
RULER = "=" * 100
STEP0 = "step:0/2 val_loss:10.8000 train_time:0ms step_avg:nanms"
STEP2 = "step:2/2 val_loss:3.2000 train_time:20ms step_avg:10.00ms"
SMI_ROW = "|   {i}  NVIDIA H100 80GB HBM3          On  |   00000000:6{i}:00.0 Off |        0 |"


def timed(parse: Callable[[str], object], text: str) -> float:
    """Seconds `parse(text)` took; a LogParseError counts as an answer."""
    start = time.perf_counter()
    with contextlib.suppress(LogParseError):
        parse(text)
    return time.perf_counter() - start


def assert_linear(parse: Callable[[str], object], text: str) -> None:
    """Within budget; a second try forgives a busy machine, never a quadratic parse."""
    megabytes = len(text.encode("utf-8", "surrogatepass")) / 1e6
    budget_s = BUDGET_BASE_S + BUDGET_S_PER_MB * megabytes
    seconds = timed(parse, text)
    if seconds >= budget_s:
        seconds = min(seconds, timed(parse, text))
    assert seconds < budget_s, f"{seconds:.2f} s for {megabytes:.2f} MB (budget {budget_s:.2f} s)"


@pytest.fixture(params=["cut", "uncut"])
def line_cut(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with lines cut to MAX_LINE_CHARS, then with every line read whole."""
    if request.param == "uncut":
        monkeypatch.setattr(logparse, "MAX_LINE_CHARS", 10**9)
    return str(request.param)


def parse(text: str) -> object:
    return parse_log(text, source="hostile")


def in_every_position(payload: str) -> str:
    """A valid log with `payload` wherever a pattern looks: the code, every kind of header line
    (versions, track 3's world line, nvidia-smi's banner, GPU rows and list), step lines, the
    peak-memory line, and the text between runs."""
    lines = [
        "import os",
        payload,
        RULER,
        "Running Python " + payload,
        "Running pytorch 2.5 compiled for CUDA 12.4" + payload,
        "Running pytorch 2.5 on" + payload,
        "| NVIDIA-SMI 550.54.15   Driver Version: " + payload,
        "|   0  NVIDIA H100" + payload + "  On  |   00000000:61:00.0 Off |",
        "| " + payload,
        "GPU 0: " + payload,
        payload,
        RULER,
        STEP0,
        "step:1/2 " + payload,
        "step:1/2 val_loss:" + payload,
        STEP2,
        "peak memory allocated: " + payload,
        payload,
        STEP0,
        STEP2,
    ]
    return "\n".join(lines) + "\n"


# 200,000 of each character the patterns use, and the repeated shapes that made them backtrack
PAYLOADS = {
    "spaces": " " * 200_000,
    "tabs": "\t" * 200_000,
    "digits": "7" * 200_000,
    "pipes": "|" * 200_000,
    "colons": ":" * 200_000,
    "dots": "." * 200_000,
    "letters": "a" * 200_000,
    "equals": "=" * 200_000,
    "carriage_returns": "\r" * 200_000,
    "space_letter": " a" * 100_000,  # a whitespace run after each non-space: the GPU row
    "space_on": " on" * 66_000,  # track 3's `.* on (.+?) with world_size`
    "nvidia_smi": "NVIDIA-SMI " * 18_000,  # `NVIDIA-SMI .*CUDA Version:` from each of them
    "step_repeated": "step:" * 100_000,
    "fields": " val_loss:1 train_time:1ms" * 8_000,
}


@pytest.mark.parametrize("name", PAYLOADS)
def test_hostile_line_in_every_position(name: str, line_cut: str) -> None:
    assert_linear(parse, in_every_position(PAYLOADS[name]))


def test_five_megabyte_single_line(line_cut: str) -> None:
    junk = "step:1/2 val_loss:3 |  0  x On | : . " * 140_000  # 5 MB, no newline
    assert_linear(parse, junk)
    assert_linear(parse, in_every_position(junk[: 5_000_000 // 20]))


def test_five_megabyte_line_inside_a_valid_log(line_cut: str) -> None:
    text = f"import os\n{RULER}\n{'x ' * 2_500_000}\n{RULER}\n{STEP0}\n{STEP2}\n"
    assert_linear(parse, text)
    (run,) = parse_log(text)
    assert run.final_val_loss == 3.2


def test_hundred_thousand_short_lines(line_cut: str) -> None:
    shapes = ["|", " ", "step:", "s:1 tel:", "=" * 40, "x y", "GPU 0:", "| 0 a On |", "step:1/"]
    assert_linear(parse, "\n".join(shapes[i % len(shapes)] for i in range(100_000)) + "\n")
    steps = (f"step:{s}/100000 train_time:{s}ms step_avg:1.00ms" for s in range(1, 100_000))
    assert_linear(parse, "\n".join([STEP0, *steps, "step:100000/100000 val_loss:3"]) + "\n")


def test_nvidia_smi_table_with_a_100_kb_row(line_cut: str) -> None:
    rows = [SMI_ROW.format(i=i) for i in range(8)]
    for wide in (rows[3][:10] + " " * 100_000 + rows[3][10:], "|   3  X" + " a" * 50_000):
        table = [*rows[:3], wide, *rows[4:]]
        text = "\n".join(["import os", RULER, *table, RULER, STEP0, STEP2]) + "\n"
        assert_linear(parse, text)
        (run,) = parse_log(text)
        assert run.gpu_model == "NVIDIA H100 80GB HBM3"


def runs_of(count: int, line: Callable[[int], str]) -> str:
    return "".join(line(k) + "\n" for k in range(count))


def test_many_runs_share_one_large_header() -> None:
    # the code's sha256 and the harness check ran once per run (20,000 runs of a 2 MB log
    # took six minutes); now once per header
    code = "x = 1\n" * 170_000
    text = f"{code}{RULER}\n" + runs_of(MAX_RUNS, lambda _: STEP0.replace("/2", "/0"))
    assert_linear(parse, text)
    runs = parse_log(text)
    assert len(runs) == MAX_RUNS and runs[-1].code_sha256 == runs[0].code_sha256


def test_many_runs_with_malformed_lines() -> None:
    # each run's warnings were picked from all of the log's: quadratic in runs
    text = runs_of(MAX_RUNS, lambda _: STEP0 + "\nstep:oops")
    assert_linear(parse, text)
    runs = parse_log(text)
    assert len(runs) == MAX_RUNS and all(len(run.warnings) == 1 for run in runs)


def decreasing(count: int) -> str:
    return runs_of(count, lambda k: f"step:{count - k}/9 train_time:1ms step_avg:1.00ms")


def test_steps_that_keep_decreasing() -> None:
    # every decrease starts a run: the rest of the log was copied at each one
    assert_linear(parse, decreasing(MAX_RUNS))
    assert len(parse_log(decreasing(MAX_RUNS))) == MAX_RUNS
    text = decreasing(50_000)
    assert_linear(parse, text)
    with pytest.raises(LogParseError, match=f"50000 runs in one log, more than {MAX_RUNS}"):
        parse_log(text)


def test_blank_lines_in_the_code() -> None:
    # is_harness_variant's `^\s*` runs across blank lines from every line start
    assert_linear(parse, "import os\n" + "\n" * 200_000 + f"{RULER}\n{STEP0}\n{STEP2}\n")


@pytest.mark.parametrize(
    "code",
    [
        "from speedrun import harness\n",
        "import os\n\n\n   \n\t\nfrom speedrun import harness\n",
        "from\n\n \nspeedrun import (\n\n  harness)\n",
        "x = 1\n\n\nimport   speedrun.harness\n",
        "from speedrun.harness   \n\n import load_config\n",
        "import os\n\n\nfrom speedrun import harnessx\n",
        "\n\n\n",
    ],
)
def test_harness_check_ignores_blank_lines(code: str) -> None:
    text = f"{code}\n{RULER}\n{STEP0}\n{STEP2}\n"
    (run,) = parse_log(text)
    assert (run.format == "harness") == is_harness_variant(code)


def test_long_line_keeps_its_head_and_is_noted() -> None:
    long_step = "step:1/2 train_time:10ms step_avg:10.00ms" + " " * 10_000
    text = "\n".join([STEP0, long_step, STEP2]) + "\n"
    (run,) = parse_log(text)
    assert [p.step for p in run.train_points] == [1]
    assert run.train_points[0].train_time_ms == 10
    assert run.warnings == (
        f"line 2 cut to its first {MAX_LINE_CHARS} of {len(long_step)} characters",
    )


def test_warnings_are_capped_per_run() -> None:
    text = "\n".join([STEP0, *["step:1/2 train_loss:garbage"] * 500, STEP2]) + "\n"
    (run,) = parse_log(text)
    assert len(run.warnings) == MAX_WARNINGS + 1
    assert run.warnings[-1] == f"... and {500 - MAX_WARNINGS} more warnings"


def test_absurd_numbers_are_dropped_not_fatal() -> None:
    digits = "9" * 4_000  # int() of more than 4,300 digits raises; fields have natural sizes
    text = "\n".join(
        [
            "import os",
            RULER,
            f"Running pytorch 2.5 on NVIDIA H100 with world_size {digits}",
            f"|   {digits}  NVIDIA H100 80GB HBM3   On  |   00000000:61:00.0 Off |",
            SMI_ROW.format(i=1),
            RULER,
            STEP0,
            f"step:{digits}/2 train_time:1ms step_avg:1.00ms",
            STEP2,
            f"peak memory allocated: {digits} MiB reserved: 5 MiB",
        ]
    )
    (run,) = parse_log(text + "\n")
    assert (run.gpu_count, run.peak_memory_allocated_mib, run.peak_memory_reserved_mib) == (
        1,
        None,
        5,
    )
    assert len(run.warnings) == 1 and "malformed" in run.warnings[0]


# --- the history's README tables and statistics.md ------------------------------------------

TABLE = "| # | Record time | Description | Date | Log | Contributors |\n|---|---|---|---|---|---|\n"
STEPS_TABLE = "| # | Steps | Description | Evidence | Log |\n|---|---|---|---|---|\n"


def readme_cases() -> Iterator[tuple[str, str]]:
    n = 200_000
    yield "brackets", TABLE + "| 1 | 3 minutes | " + "[" * n + " | 01/01/25 | x | @a |\n"
    yield "empty_links", TABLE + "| 1 | 3 minutes | " + "[](" * n + " | 01/01/25 | x | @a |\n"
    yield "open_links", TABLE + "| 1 | 3 minutes | " + "[x](a" * n + " | 01/01/25 | x | @a |\n"
    yield "heading_spaces", "# a" + " " * n + "b\n" + TABLE
    yield "separator_spaces", "| # | time |\n|-|-" + " " * n + "x\n"
    yield "row_spaces", TABLE + " " * n + "x\n"
    yield "evidence_digits", STEPS_TABLE + "| 1 | 3000 | x | " + "1" * n + " | y |\n"
    yield "handles", TABLE + "| 1 | 3 minutes | x | 01/01/25 | x | " + "@a." * n + " |\n"
    yield (
        "tables_in_one_section",
        "# s\n" + "| # | time |\n|---|---|\n| 1 | 3 minutes |\n\n" * 2_000,
    )


def statistics_cases() -> Iterator[tuple[str, str]]:
    n = 200_000
    yield "metric_spaces", "| a" + " " * n + "b | c |\n"
    yield "metric_pipes", "| a " * n + "\n"
    yield "blank_lines", "\n" * n
    yield "space_lines", " \n" * n
    yield "losses_newlines", "Losses:" + "\n" * n + "x"
    yield "runs_digits", "- runs: " + "1" * n


@pytest.mark.parametrize(("name", "text"), list(readme_cases()))
def test_readme_hostile(name: str, text: str) -> None:
    assert_linear(parse_readme, text)


@pytest.mark.parametrize(("name", "text"), list(statistics_cases()))
def test_statistics_hostile(name: str, text: str) -> None:
    assert_linear(lambda t: parse_statistics_md(t, path="statistics.md"), text)


# --- property: text built from the format's own fragments -----------------------------------

FRAGMENTS = [
    "step:", "s:", " tel:", " trl:", "val_loss:", "train_loss:", "train_time:", "step_avg:",
    "ms", "s", "nan", "/", "|", " ", "  ", "\t", ":", ".", "\n", "\r\n", "=" * 100,
    "Running Python ", "Running pytorch ", " compiled for CUDA ", " on ", " with world_size ",
    "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |",
    SMI_ROW.format(i=0), "GPU 0: NVIDIA H100 (UUID: x)", " On ", "  Off ", "00000000:61:",
    "peak memory allocated: ", " MiB", " reserved: ", "from speedrun import harness\n",
    STEP0 + "\n", STEP2 + "\n", "step:1/2 train_time:1ms step_avg:1.00ms\n",
]  # fmt: skip
fragment = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.integers(min_value=0, max_value=10**30).map(str),
    st.text(max_size=20),  # any unicode
)
repeated = st.tuples(fragment, st.integers(min_value=1, max_value=3_000)).map(lambda t: t[0] * t[1])
texts = st.lists(st.one_of(fragment, fragment, repeated), max_size=60).map("".join)


@settings(
    max_examples=150,
    deadline=None,  # the bound is per size, measured below
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=texts)
def test_any_text_parses_or_raises_log_parse_error_in_linear_time(text: str) -> None:
    start = time.perf_counter()
    try:
        runs = parse_log(text)
    except LogParseError:
        runs = []
    seconds = time.perf_counter() - start
    kilobytes = len(text.encode("utf-8", "surrogatepass")) / 1e3
    assert seconds < 0.25 + 0.01 * kilobytes, f"{seconds:.3f} s for {kilobytes:.1f} KB"
    for run in runs:
        assert run.val_points or run.train_points
        assert len(run.warnings) <= MAX_WARNINGS + 1
    for other in (parse_readme, lambda t: parse_statistics_md(t, path="s.md")):
        start = time.perf_counter()
        other(text)
        assert time.perf_counter() - start < 0.25 + 0.01 * kilobytes
