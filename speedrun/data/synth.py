"""`synthlang`: the deterministic synthetic language behind the CPU tracks.

FineWeb cannot be trained to anything meaningful on two CPU cores in minutes, and uniform
noise cannot tell a good training recipe from a bad one. This language has structure at three
scales, each of which a better recipe learns sooner, and a known entropy floor:

* local: each content token has a few possible successors with fixed weights (a bigram
  chain), learnable by an MLP;
* document: each document draws a hidden topic that tilts every successor choice towards the
  topic's preferred quarter of the vocabulary; the topic has to be inferred from context, so a
  model that aggregates evidence over many tokens predicts better as the document goes on;
* copying: a MARK token followed by a key token means "the next COPY_LEN tokens repeat what
  followed the key's latest earlier occurrence in this document" — predictable only by
  attending to that exact earlier position (an induction head, after Olsson et al. 2022,
  "In-context Learning and Induction Heads").

Documents are separated by EOS like FineWeb's GPT-2 tokens (EOS starts each document), and end
with a known hazard after a minimum length. Because every latent choice is either observable
from the history or a topic with a tractable posterior, the builder computes the Bayes-optimal
next-token probability of every token as it generates it; the mean of its negative log over a
slice is the entropy floor no model can beat on average.

Only `Generator.random()` draws are used (uniform doubles), so the byte stream depends on the
seed alone; a test rebuilds the track data and compares sha256s with the pins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LanguageSpec:
    """Parameters of the synthetic language; changing any of them changes the data."""

    vocab_size: int = 256  # ids: content tokens 0..vocab-3, MARK = vocab-2, EOS = vocab-1
    successors: int = 6  # successors per content token in the bigram chain
    topics: int = 16
    topic_tilt: float = 4.0  # weight multiplier of a topic's preferred tokens
    topic_share: float = 0.25  # fraction of the vocabulary each topic prefers
    mark_prob: float = 0.04  # chance of a MARK at a free position (after MIN_MARK_POS)
    copy_len: int = 8
    min_mark_pos: int = 16
    min_doc_len: int = 64
    end_hazard: float = 1.0 / 256.0  # chance the document ends at a free position
    max_doc_len: int = 1536
    grammar_seed: int = 20240520

    @property
    def content_size(self) -> int:
        return self.vocab_size - 2

    @property
    def mark(self) -> int:
        return self.vocab_size - 2

    @property
    def eos(self) -> int:
        return self.vocab_size - 1


@dataclass(frozen=True)
class Grammar:
    """The fixed random tables drawn from `LanguageSpec.grammar_seed`."""

    succ: IntArray  # (C, S) successor ids of each content token
    chain: FloatArray  # (K, C, S) P(successor index | previous token, topic)
    first: FloatArray  # (K, C) P(first token | topic)


@dataclass(frozen=True)
class Corpus:
    tokens: npt.NDArray[np.uint16]  # the stream, EOS before each document
    optimal_nll: FloatArray  # Bayes-optimal -log p of each token given its document's history


def build_grammar(spec: LanguageSpec) -> Grammar:
    rng = np.random.Generator(np.random.PCG64(spec.grammar_seed))
    C, S, K = spec.content_size, spec.successors, spec.topics
    # Successors: S distinct ids per token, chosen by ranking uniform draws.
    succ = np.argsort(rng.random((C, C)), axis=1)[:, :S].astype(np.int64)
    base = -np.log(rng.random((C, S)))  # exponential draws: Dirichlet(1) once normalised
    base /= base.sum(axis=1, keepdims=True)
    n_pref = max(1, round(spec.topic_share * C))
    preferred = np.zeros((K, C), dtype=bool)
    for k, order in enumerate(np.argsort(rng.random((K, C)), axis=1)):
        preferred[k, order[:n_pref]] = True
    tilt = np.where(preferred, spec.topic_tilt, 1.0)  # (K, C)
    chain = base[None, :, :] * tilt[:, succ]  # (K, C, S)
    chain /= chain.sum(axis=2, keepdims=True)
    first = tilt / tilt.sum(axis=1, keepdims=True)
    return Grammar(succ=succ, chain=chain, first=first)


def _sample_index(rng: np.random.Generator, probs: FloatArray) -> IntArray:
    """One categorical draw per row of `probs` (rows sum to 1)."""
    u: FloatArray = rng.random((probs.shape[0], 1))
    idx = (np.cumsum(probs, axis=1) < u).sum(axis=1)
    out: IntArray = np.minimum(idx, probs.shape[1] - 1).astype(np.int64)
    return out


class _DocBatch:
    """Generates a batch of documents in lockstep, recording optimal NLLs as it goes."""

    def __init__(self, spec: LanguageSpec, grammar: Grammar, n_docs: int) -> None:
        self.spec, self.g = spec, grammar
        L = spec.max_doc_len
        self.buf = np.zeros((n_docs, L), dtype=np.int64)
        self.nll = np.zeros((n_docs, L), dtype=np.float64)
        self.length = np.zeros(n_docs, dtype=np.int64)
        self.active = np.ones(n_docs, dtype=bool)
        self.post = np.full((n_docs, spec.topics), 1.0 / spec.topics)
        self.topic = np.zeros(n_docs, dtype=np.int64)
        self.prev = np.zeros(n_docs, dtype=np.int64)  # last content token from the chain
        self.copy_left = np.zeros(n_docs, dtype=np.int64)
        self.copy_src = np.zeros(n_docs, dtype=np.int64)
        self.key_next = np.zeros(n_docs, dtype=bool)

    def run(self, rng: np.random.Generator) -> None:
        s = self.spec
        self.topic = np.minimum(
            (rng.random(len(self.topic)) * s.topics).astype(np.int64), s.topics - 1
        )
        for t in range(s.max_doc_len):
            if not self.active.any():
                break
            if t == 0:
                self._emit_first(rng)
                continue
            act = self.active
            copying = act & (self.copy_left > 0)
            keying = act & ~copying & self.key_next
            free = act & ~copying & ~self.key_next
            self._emit_copy(np.flatnonzero(copying), t)
            self._emit_key(rng, np.flatnonzero(keying), t)
            self._emit_free(rng, np.flatnonzero(free), t)

    def _chain_draw(self, rng: np.random.Generator, rows: IntArray) -> tuple[IntArray, FloatArray]:
        """Draw chain successors for `rows`; return tokens and the optimal predictive prob."""
        probs = self.g.chain[self.topic[rows], self.prev[rows]]  # (n, S)
        idx = _sample_index(rng, probs)
        like = self.g.chain[:, self.prev[rows], idx].T  # (n, K): P(token | topic) for each topic
        pred = (self.post[rows] * like).sum(axis=1)
        post = self.post[rows] * like
        self.post[rows] = post / post.sum(axis=1, keepdims=True)
        return self.g.succ[self.prev[rows], idx], pred

    def _emit_first(self, rng: np.random.Generator) -> None:
        rows = np.arange(len(self.topic))
        tok = _sample_index(rng, self.g.first[self.topic])
        like = self.g.first[:, tok].T
        self.nll[:, 0] = -np.log((self.post * like).sum(axis=1))
        post = self.post * like
        self.post = post / post.sum(axis=1, keepdims=True)
        self.buf[rows, 0] = tok
        self.prev[:] = tok
        self.length[:] = 1

    def _emit_copy(self, rows: IntArray, t: int) -> None:
        if rows.size == 0:
            return
        tok = self.buf[rows, self.copy_src[rows]]
        self.buf[rows, t] = tok
        self.nll[rows, t] = 0.0  # fully determined by the history
        self.copy_src[rows] += 1
        self.copy_left[rows] -= 1
        done = rows[self.copy_left[rows] == 0]
        # The chain resumes from the last copied token (MARK is never a chain state).
        last = self.buf[done, t]
        keep = last != self.spec.mark
        self.prev[done[keep]] = last[keep]
        self.length[rows] = t + 1

    def _emit_key(self, rng: np.random.Generator, rows: IntArray, t: int) -> None:
        if rows.size == 0:
            return
        tok, pred = self._chain_draw(rng, rows)
        self.buf[rows, t] = tok
        self.nll[rows, t] = -np.log(pred)
        self.prev[rows] = tok
        self.key_next[rows] = False
        self.length[rows] = t + 1
        mark_pos = t - 1
        for r, key in zip(rows.tolist(), tok.tolist(), strict=True):
            # latest j with the whole source span x[j+1 .. j+COPY_LEN] before the MARK
            last_j = mark_pos - 1 - self.spec.copy_len
            if last_j < 0:
                continue
            hits = np.flatnonzero(self.buf[r, : last_j + 1] == key)
            if hits.size:
                self.copy_src[r] = int(hits[-1]) + 1
                self.copy_left[r] = self.spec.copy_len

    def _emit_free(self, rng: np.random.Generator, rows: IntArray, t: int) -> None:
        if rows.size == 0:
            return
        s = self.spec
        p_end = 1.0 if t == s.max_doc_len - 1 else (s.end_hazard if t >= s.min_doc_len else 0.0)
        # no MARK so late that its copy would run past the forced end at max_doc_len - 1
        late = t >= s.max_doc_len - s.copy_len - 3
        p_mark = 0.0 if t < s.min_mark_pos or late else s.mark_prob
        u = rng.random(rows.size)
        end = rows[u < p_end]
        mark = rows[(u >= p_end) & (u < p_end + (1 - p_end) * p_mark)]
        chain = rows[u >= p_end + (1 - p_end) * p_mark]
        self.active[end] = False
        if end.size:
            self.buf[end, t] = s.eos  # kept for the NLL only; the stream writes the EOS
            self.nll[end, t] = -np.log(p_end)
        if mark.size:
            self.buf[mark, t] = s.mark
            self.nll[mark, t] = -np.log((1 - p_end) * p_mark)
            self.key_next[mark] = True
        if chain.size:
            tok, pred = self._chain_draw(rng, chain)
            self.buf[chain, t] = tok
            self.nll[chain, t] = -np.log((1 - p_end) * (1 - p_mark) * pred)
            self.prev[chain] = tok
        self.length[mark] = t + 1
        self.length[chain] = t + 1


def generate(spec: LanguageSpec, n_tokens: int, *, seed: int, docs_per_batch: int = 4096) -> Corpus:
    """Generate exactly `n_tokens` tokens of stream (the last document is cut off)."""
    grammar = build_grammar(spec)
    rng = np.random.Generator(np.random.PCG64(seed))
    tokens: list[npt.NDArray[np.uint16]] = []
    nlls: list[FloatArray] = []
    have = 0
    end_nll = 0.0  # the EOS opening a document costs the previous document's end decision
    while have < n_tokens:
        batch = _DocBatch(spec, grammar, docs_per_batch)
        batch.run(rng)
        for r in range(docs_per_batch):
            n = int(batch.length[r])
            doc = np.empty(n + 1, dtype=np.uint16)
            doc[0] = spec.eos
            doc[1:] = batch.buf[r, :n]
            tokens.append(doc)
            nlls.append(np.concatenate([[end_nll], batch.nll[r, :n]]))
            end_nll = float(batch.nll[r, n])
            have += n + 1
            if have >= n_tokens:
                break
    stream = np.concatenate(tokens)[:n_tokens]
    nll = np.concatenate(nlls)[:n_tokens]
    return Corpus(tokens=stream, optimal_nll=nll)


def entropy_floor(corpus: Corpus, n_tokens: int) -> float:
    """Mean optimal NLL (nats) of predicting tokens 1..n-1 of the stream from their history."""
    return float(corpus.optimal_nll[1:n_tokens].mean())
