"""synthlang: deterministic, structured as documented, and its entropy floors match the pins."""

from __future__ import annotations

import numpy as np
import pytest

from speedrun.data import synth
from speedrun.tracks import get_track

SPEC = synth.LanguageSpec()


@pytest.fixture(scope="module")
def smoke_val() -> synth.Corpus:
    spec = get_track("cpu-smoke").dataset.synth
    assert spec is not None
    return synth.generate(SPEC, spec["val_shard_tokens"], seed=spec["val_seed"])


def documents(tokens: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each document's content, EOS excluded; the stream opens with EOS."""
    starts = np.flatnonzero(tokens == SPEC.eos)
    ends = [*starts[1:].tolist(), len(tokens)]
    return [(int(s) + 1, e) for s, e in zip(starts.tolist(), ends, strict=True)]


def test_same_seed_same_stream_other_seed_other_stream():
    a = synth.generate(SPEC, 20_000, seed=5, docs_per_batch=64)
    b = synth.generate(SPEC, 20_000, seed=5, docs_per_batch=64)
    c = synth.generate(SPEC, 20_000, seed=6, docs_per_batch=64)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.optimal_nll, b.optimal_nll)
    assert not np.array_equal(a.tokens, c.tokens)
    assert a.tokens.dtype == np.uint16 and a.tokens.size == a.optimal_nll.size == 20_000


def test_documents_open_with_eos_and_respect_length_bounds(smoke_val):
    tokens = smoke_val.tokens
    assert tokens[0] == SPEC.eos
    assert int(tokens.max()) < SPEC.vocab_size
    docs = documents(tokens)
    complete = [e - s for s, e in docs[:-1]]  # the last one is cut off by the shard's end
    assert min(complete) >= SPEC.min_doc_len
    assert max(complete) <= SPEC.max_doc_len - 1
    # Mean length: min_doc_len, then a geometric tail of mean 1/end_hazard free positions,
    # each followed with probability mark_prob by a key and up to copy_len copied tokens
    # (which are never ends).
    stretch = 1 + SPEC.mark_prob * (1 + SPEC.copy_len)
    expected_len = SPEC.min_doc_len + stretch / SPEC.end_hazard
    eos_rate = float(np.mean(tokens == SPEC.eos))
    assert 0.8 / expected_len < eos_rate < 1.2 / expected_len


def test_copy_spans_repeat_the_span_after_the_keys_latest_earlier_occurrence(smoke_val):
    tokens, nll = smoke_val.tokens.astype(np.int64), smoke_val.optimal_nll
    L = SPEC.copy_len
    copies = marks_without_source = 0
    for start, end in documents(smoke_val.tokens):
        doc = tokens[start:end]
        t = 0
        while t < len(doc) - 1:
            if doc[t] != SPEC.mark:
                t += 1
                continue
            key = doc[t + 1]
            assert key < SPEC.content_size, "MARK must be followed by a content key"
            earlier = np.flatnonzero(doc[: max(t - L, 0)] == key)  # sources ending before MARK
            if earlier.size == 0:
                marks_without_source += 1
                t += 2
                continue
            if t + 2 + L > len(doc):
                break  # cut off by the shard's end
            src = int(earlier[-1]) + 1
            np.testing.assert_array_equal(doc[t + 2 : t + 2 + L], doc[src : src + L])
            assert np.all(nll[start + t + 2 : start + t + 2 + L] == 0.0)
            copies += 1
            t += 2 + L  # a MARK copied inside the span does not start a new copy
    assert copies > 100
    assert marks_without_source < copies


def test_optimal_nll_is_finite_and_non_negative(smoke_val):
    assert np.all(np.isfinite(smoke_val.optimal_nll))
    assert np.all(smoke_val.optimal_nll >= 0.0)
    # Better than a uniform guess over the vocabulary, or the structure is missing.
    assert synth.entropy_floor(smoke_val, smoke_val.tokens.size) < 0.5 * np.log(SPEC.vocab_size)


@pytest.mark.parametrize("track_id", ["cpu-smoke", "cpu-tiny"])
def test_entropy_floor_of_the_val_slice_matches_the_track(track_id):
    track = get_track(track_id)
    spec = track.dataset.synth
    assert spec is not None and track.entropy_floor is not None
    val = synth.generate(SPEC, spec["val_shard_tokens"], seed=spec["val_seed"])
    floor = synth.entropy_floor(val, track.dataset.val_tokens)
    assert floor == pytest.approx(track.entropy_floor, abs=1e-3)
    assert floor < track.rules.target_val_loss


def test_grammar_tables_are_distributions():
    g = synth.build_grammar(SPEC)
    np.testing.assert_allclose(g.chain.sum(axis=2), 1.0)
    np.testing.assert_allclose(g.first.sum(axis=1), 1.0)
    assert g.succ.shape == (SPEC.content_size, SPEC.successors)
    assert all(len(set(row)) == SPEC.successors for row in g.succ.tolist())
