"""Build time of a synthetic track's corpus, its entropy floor, and simple baselines beside it.

Generates and writes every shard of the track (as `speedrun data fetch` does), timing the
generator and the writer apart and checking each digest against the track's pin. Then prints
the entropy floor (the Bayes-optimal mean loss on the validation slice) next to what a
unigram and a bigram model estimated from the train shards reach on that slice, and the
plug-in unigram/bigram entropies of the slice itself: the floor must lie well below them, or
the language has nothing beyond bigram statistics for a model to learn.

    python benchmarks/corpus_build.py [--track cpu-tiny]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from speedrun.data import shards, synth
from speedrun.tracks import Track, get_track

Tokens = npt.NDArray[np.uint16]


def bigram_counts(tokens: Tokens, vocab: int) -> npt.NDArray[np.float64]:
    pairs = tokens[:-1].astype(np.int64) * vocab + tokens[1:]
    return np.bincount(pairs, minlength=vocab * vocab).reshape(vocab, vocab).astype(np.float64)


def plugin_entropies(tokens: Tokens, vocab: int) -> tuple[float, float]:
    """H(X) and H(X_t | X_t-1) of the slice's own empirical distributions, in nats."""
    p = np.bincount(tokens, minlength=vocab) / tokens.size
    unigram = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    joint = bigram_counts(tokens, vocab)
    joint /= joint.sum()
    prev = joint.sum(axis=1, keepdims=True)
    cond = np.divide(joint, prev, out=np.zeros_like(joint), where=prev > 0)
    bigram = float(-(joint[joint > 0] * np.log(cond[joint > 0])).sum())
    return unigram, bigram


def cross_entropies(train: Tokens, val: Tokens, vocab: int) -> tuple[float, float]:
    """Mean NLL on `val` of unigram and bigram models fit on `train` (add-0.1 smoothing)."""
    uni = np.bincount(train, minlength=vocab) + 0.1
    uni /= uni.sum()
    counts = bigram_counts(train, vocab) + 0.1
    cond = counts / counts.sum(axis=1, keepdims=True)
    v = val.astype(np.int64)
    return float(-np.log(uni[v[1:]]).mean()), float(-np.log(cond[v[:-1], v[1:]]).mean())


def build(track: Track, folder: Path) -> tuple[synth.Corpus, list[Tokens]]:
    synth = track.dataset.synth
    assert synth is not None, f"{track.id} is not a synthetic track"
    language = synth.LanguageSpec()
    plan = [(track.dataset.val_file, synth["val_seed"], synth["val_shard_tokens"])]
    plan += [
        (f, synth["train_seed"] + 1000 * i, synth["train_shard_tokens"])
        for i, f in enumerate(track.dataset.train_files)
    ]
    gen_s = write_s = 0.0
    built: list[synth.Corpus] = []
    for pinned, seed, n_tokens in plan:
        t0 = time.perf_counter()
        c = synth.generate(language, n_tokens, seed=seed)
        t1 = time.perf_counter()
        digest = shards.write_shard(folder / pinned.name, c.tokens)
        t2 = time.perf_counter()
        gen_s, write_s = gen_s + t1 - t0, write_s + t2 - t1
        status = "matches pin" if digest == pinned.sha256 else f"DIFFERS from pin {pinned.sha256}"
        print(f"  {pinned.name}: {n_tokens:>10,} tokens  gen {t1 - t0:5.2f} s  "
              f"write {t2 - t1:5.2f} s  sha256 {status}")  # fmt: skip
        built.append(c)
    total = sum(n for _, _, n in plan)
    print(f"build: {total:,} tokens in {gen_s + write_s:.2f} s (generate {gen_s:.2f} s, "
          f"write+hash {write_s:.2f} s), {total / (gen_s + write_s) / 1e6:.2f} M tokens/s")  # fmt: skip
    return built[0], [c.tokens for c in built[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="cpu-tiny")
    args = parser.parse_args()
    track = get_track(args.track)
    print(f"{track.key}: {track.dataset.name}")
    with tempfile.TemporaryDirectory() as tmp:
        val, train = build(track, Path(tmp))
    vocab = synth.LanguageSpec().vocab_size
    n_val = track.dataset.val_tokens
    val_slice = val.tokens[:n_val]
    floor = synth.entropy_floor(val, n_val)
    uni_h, bi_h = plugin_entropies(val_slice, vocab)
    uni_x, bi_x = cross_entropies(np.concatenate(train), val_slice, vocab)
    print(f"val slice: first {n_val:,} tokens (nats/token)")
    print(
        f"  entropy floor (Bayes-optimal)  {floor:.4f}   pinned in the track: {track.entropy_floor}"
    )
    print(
        f"  bigram model fit on train      {bi_x:.4f}   plug-in H(x_t | x_t-1) of slice {bi_h:.4f}"
    )
    print(
        f"  unigram model fit on train     {uni_x:.4f}   plug-in H(x) of slice           {uni_h:.4f}"
    )
    print(f"  uniform over the vocabulary    {np.log(vocab):.4f}")
    print(f"  target val loss                {track.rules.target_val_loss:.4f}")


if __name__ == "__main__":
    main()
