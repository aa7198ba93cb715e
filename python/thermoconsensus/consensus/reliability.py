"""Label-free model reliability: each model's accuracy estimated from how its answers agree with the
others', across many questions (Dawid & Skene 1979, one-coin form).

The model. Question i has a true answer z_i, taken to be one of the answers given there (the set C_i
of its distinct observed answers), uniform a priori over C_i. Worker (model) j answers correctly with
probability p_j; a wrong answer falls uniformly on the K_i - 1 other possible answers, K_i being the
question's number of possible answers (``n_classes``: 2 for yes/no, the option count for multiple
choice; for open answers such as numbers or free text, None, which takes K_i = max(OPEN_ANSWERS,
observed) because wrong open answers seldom coincide). Taking K_i as only the observed answers would
make wrong answers coincide too often under the model, reading agreement as weak evidence: on the
simulated 4-option workers of the tests it underestimated a 0.9 worker by 0.1 or more.
A worker may abstain (answer None); an abstention says nothing and is left out. EM starts from the soft
majority vote (each question's vote shares as the posterior over z_i), then alternates

    E: P(z_i = c) ∝ prod_j [p_j if a_ij = c else (1 - p_j) / (K_i - 1)],  c in C_i
    M: p_j = (sum_i P(z_i = a_ij) + prior_correct) / (n_j + prior_correct + prior_wrong)

where n_j counts the questions worker j answered together with at least one other worker (a question
answered by one worker alone says nothing about agreement and is reported but not scored). The prior is
``prior_correct`` correct and ``prior_wrong`` wrong pseudo-answers per worker (default one each, the
posterior mode under Beta(2, 2)), so one or two questions never give 0 or 1.

Free text. :func:`agreement_reliability` turns each question's response embeddings into answer labels
by complete-linkage clustering at a cosine-distance ``radius`` (two responses share a label only if
every pair in the cluster is within the radius), then runs the same EM on the labels: a worker is
reliable when its responses sit close to the others'.

Across calls. :class:`ReliabilityState` keeps the last ``max_questions`` questions (labels only, so it
stays small and JSON-serialisable) and returns per-model accuracies for the prior field h; labels from
feedback take precedence (:meth:`ReliabilityState.quality`).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._arrays import check_int, check_real
from .distances import cosine_distances

__all__ = [
    "DawidSkeneResult",
    "ReliabilityState",
    "agreement_labels",
    "agreement_reliability",
    "dawid_skene",
    "marginal_caps",
]

Answers = Mapping[str, Optional[str]]

# The number of possible answers assumed for an open question (numbers, free text) when the caller
# gives none: wrong open answers seldom coincide, so a small K (e.g. only the observed answers) would
# read agreement between models as weak evidence; at least the observed count is always used.
OPEN_ANSWERS = 10

# A worker's answer distribution bounds its accuracy only once it rests on this many answers.
_MIN_FOR_CAP = 8
# Accuracies are kept off 0 and 1 so the logs of the E-step stay finite.
_P_FLOOR = 1e-6


@dataclass(frozen=True)
class DawidSkeneResult:
    """What :func:`dawid_skene` estimated.

    ``accuracy[w]``: worker w's estimated probability of answering correctly. ``answered[w]``: the
    questions w answered (not None); ``scored[w]``: those of them that another worker also answered
    (the ones the estimate rests on). ``posteriors[i]``: P(true answer = a) over the answers given at
    question i (empty when nobody answered); ``labels[i]``: its most probable answer (None when nobody
    answered). ``iterations`` of EM were run; ``converged`` when the largest accuracy change fell below
    ``tol`` before ``max_iter``.
    """

    workers: tuple[str, ...]
    accuracy: dict[str, float]
    answered: dict[str, int]
    scored: dict[str, int]
    posteriors: tuple[dict[str, float], ...]
    labels: tuple[str | None, ...]
    iterations: int
    converged: bool
    modes: int = 1
    mode_share: float = 1.0

    def correct_probability(self, question: int, answer: str | None) -> float:
        """The posterior probability that ``answer`` is right at ``question`` (0 for None)."""
        if answer is None:
            return 0.0
        return self.posteriors[question].get(answer, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for a trace)."""
        return {
            "workers": list(self.workers),
            "accuracy": dict(self.accuracy),
            "answered": dict(self.answered),
            "scored": dict(self.scored),
            "posteriors": [dict(p) for p in self.posteriors],
            "labels": list(self.labels),
            "iterations": self.iterations,
            "converged": self.converged,
            "modes": self.modes,
            "mode_share": self.mode_share,
        }


def _check_prior(prior: Any) -> tuple[float, float]:
    if not isinstance(prior, (tuple, list)) or len(prior) != 2:
        raise TypeError(f"prior: expected a pair (prior_correct, prior_wrong), got {prior!r}")
    a, b = (check_real("prior", v, at_least=0) for v in prior)
    if a + b <= 0:
        raise ValueError(f"prior: at least one pseudo-count must be positive, got {prior!r}")
    return a, b


def _check_answers(answers: Any) -> list[dict[str, str | None]]:
    if isinstance(answers, (str, bytes, Mapping)) or not isinstance(answers, Sequence):
        raise TypeError(
            "answers: expected a list over questions of {worker: answer} dicts, "
            f"got {type(answers).__name__}"
        )
    if len(answers) == 0:
        raise ValueError("answers: no questions")
    out = []
    for i, q in enumerate(answers):
        if not isinstance(q, Mapping):
            raise TypeError(f"answers[{i}]: expected a {{worker: answer}} dict, got {type(q).__name__}")
        row: dict[str, str | None] = {}
        for w, a in q.items():
            if not isinstance(w, str) or not w:
                raise TypeError(f"answers[{i}]: worker names must be non-empty strings, got {w!r}")
            if a is not None and not isinstance(a, str):
                raise TypeError(f"answers[{i}][{w!r}]: expected a str or None, got {type(a).__name__}")
            row[w] = a
        out.append(row)
    return out


def _check_radius(radius: Any) -> float:
    return check_real("radius", radius, above=0, at_most=2)


class _Default:
    """The type of the "not given" marker (None is a meaningful n_classes)."""


_DEFAULT = _Default()


def _possible_answers(n_classes: Any, k_obs: NDArray[np.int_]) -> NDArray[np.float64]:
    """K per question: the given count (at least the observed one), or OPEN_ANSWERS for None."""
    n_q = len(k_obs)
    if n_classes is None or isinstance(n_classes, int):
        given: list[Any] = [n_classes] * n_q
    elif isinstance(n_classes, Sequence) and not isinstance(n_classes, (str, bytes)):
        if len(n_classes) != n_q:
            raise ValueError(f"n_classes: expected one entry per question ({n_q}), got {len(n_classes)}")
        given = list(n_classes)
    else:
        raise TypeError(f"n_classes: expected an int, a list of ints or None, got {n_classes!r}")
    out = np.empty(n_q)
    for i, k in enumerate(given):
        if k is None:
            k = max(OPEN_ANSWERS, int(k_obs[i]))
        elif isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ValueError(f"n_classes: expected integers >= 2 or None, got {k!r} (question {i})")
        if k < k_obs[i]:
            raise ValueError(f"n_classes: question {i} has {k_obs[i]} distinct answers, more than {k}")
        out[i] = k
    return out


def dawid_skene(
    answers: Sequence[Answers],
    *,
    max_iter: int = 200,
    tol: float = 1e-8,
    prior: tuple[float, float] = (1.0, 1.0),
    n_classes: int | Sequence[int | None] | None = None,
    weights: Sequence[Mapping[str, float] | None] | None = None,
    caps: Mapping[str, float] | None = None,
) -> DawidSkeneResult:
    """One-coin Dawid-Skene EM over extracted answers (see the module docstring for the model).

    ``caps``: optional upper bounds on workers' accuracies, enforced at every M-step (see
    :func:`marginal_caps`: what a worker's own answer distribution allows).

    ``weights``: optional per question ``{worker: w}`` in (0, 1] for the soft vote EM starts from
    (default 1 each). With only two informative workers the likelihood is symmetric between "the first
    is right where they differ" and "the second is", and EM settles wherever it starts; starting from
    a vote weighted by each worker's own probability for its answer picks the basin of the more
    confident one instead of a tie-break.

    ``answers``: one dict per question, ``{worker: answer or None}``; answers are compared as exact
    strings (normalise them first, as the extractors do). A worker may be missing from any question.
    ``prior``: (correct, wrong) pseudo-answers per worker. ``n_classes``: the number of possible
    answers, one int for all questions or one per question (None: open, see :data:`OPEN_ANSWERS`);
    it must be at least the number of distinct answers given. TypeError/ValueError on malformed input or
    when no question has any answer.
    """
    rows = _check_answers(answers)
    max_iter = check_int("max_iter", max_iter, 1)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol: expected a positive number, got {tol!r}")
    a_pr, b_pr = _check_prior(prior)

    workers = tuple(sorted({w for r in rows for w in r}))
    widx = {w: k for k, w in enumerate(workers)}
    # Flat encoding: class c (global id) belongs to question cls_q[c]; observation o is worker obs_w[o]
    # answering class obs_c[o]. Classes of one question are contiguous, so reduceat works per question.
    classes: list[list[str]] = []
    obs_w: list[int] = []
    obs_c: list[int] = []
    obs_q: list[int] = []
    offset = 0
    for i, r in enumerate(rows):
        given = [(w, a) for w, a in r.items() if a is not None]
        names = list(dict.fromkeys(a for _, a in given))
        cid = {a: offset + k for k, a in enumerate(names)}
        for w, a in given:
            obs_w.append(widx[w])
            obs_c.append(cid[a])
            obs_q.append(i)
        classes.append(names)
        offset += len(names)
    if not obs_w:
        raise ValueError("answers: every answer is None (nothing to estimate from)")
    n_q = len(rows)
    n_w = len(workers)
    ow = np.asarray(obs_w)
    oc = np.asarray(obs_c)
    oq = np.asarray(obs_q)
    k_q = np.asarray([len(c) for c in classes])
    k_model = _possible_answers(n_classes, k_q)
    cls_q = np.repeat(np.arange(n_q), k_q)
    starts = np.concatenate([[0], np.cumsum(k_q)[:-1]])
    has = k_q > 0
    # Scored observations: the question has at least two answers.
    per_q = np.bincount(oq, minlength=n_q)
    scored_mask = per_q[oq] >= 2
    answered = np.bincount(ow, minlength=n_w)
    n_scored = np.bincount(ow[scored_mask], minlength=n_w)

    cap = np.ones(n_w)
    for w, c in (caps or {}).items():
        if w in widx:
            if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.0 < c <= 1.0:
                raise ValueError(f"caps: expected numbers in (0, 1], got {c!r} for {w!r}")
            cap[widx[w]] = float(c)

    def m_step(post: NDArray[np.float64]) -> NDArray[np.float64]:
        correct = np.bincount(ow[scored_mask], weights=post[oc[scored_mask]], minlength=n_w)
        p: NDArray[np.float64] = np.minimum((correct + a_pr) / (n_scored + a_pr + b_pr), cap)
        return p

    def scores(
        p: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Per class: exp(log joint - the question's max); per question: that max and the sum."""
        pc = np.clip(p, _P_FLOOR, 1.0 - _P_FLOOR)
        log_wrong = np.log1p(-pc[ow]) - np.log(k_model[oq] - 1)
        base = np.bincount(oq, weights=log_wrong, minlength=n_q)
        bonus = np.bincount(oc, weights=np.log(pc[ow]) - log_wrong, minlength=offset)
        logpost = base[cls_q] + bonus
        mx = np.maximum.reduceat(logpost, starts[has])
        e = np.exp(logpost - np.repeat(mx, k_q[has]))
        return e, mx, np.add.reduceat(e, starts[has])

    def e_step(p: NDArray[np.float64]) -> NDArray[np.float64]:
        e, _, z = scores(p)
        out: NDArray[np.float64] = e / np.repeat(z, k_q[has])
        return out

    # Soft majority vote to start: each question's (weighted) vote shares.
    start_w = np.ones(len(obs_w))
    if weights is not None:
        if len(weights) != n_q:
            raise ValueError(f"weights: expected one entry per question ({n_q}), got {len(weights)}")
        for o, (qi, wi) in enumerate(zip(obs_q, obs_w)):
            mine = weights[qi]
            v = 1.0 if mine is None else mine.get(workers[wi], 1.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 < v <= 1.0):
                raise ValueError(f"weights: expected numbers in (0, 1], got {v!r} (question {qi})")
            start_w[o] = float(v)

    def log_likelihood(p: NDArray[np.float64]) -> float:
        # log P(answers | p) up to a constant shared by every p (the uniform prior over C_i).
        _, mx, z = scores(p)
        return float(np.sum(mx + np.log(z)))

    def run(post: NDArray[np.float64]) -> tuple[NDArray[np.float64], int, bool]:
        p = m_step(post)
        it = 0
        for it in range(1, max_iter + 1):
            p_new = m_step(e_step(p))
            delta = float(np.max(np.abs(p_new - p)))
            p = p_new
            if delta < tol:
                return p, it, True
        return p, it, False

    votes = np.bincount(oc, weights=start_w, minlength=offset)
    totals = np.bincount(oq, weights=start_w, minlength=n_q)
    p, it, converged = run(votes / totals[cls_q])
    # EM climbs to the nearest mode. With few informative workers the likelihood has several (which
    # of two agreeing-and-disagreeing workers is the right one), so EM also starts from each
    # worker's own answers, and the modes are averaged by their likelihood (Bayesian model
    # averaging over the modes found) instead of trusting wherever the first start led.
    modes: list[tuple[float, NDArray[np.float64]]] = [(log_likelihood(p), p)]
    for wk in range(n_w):
        mine = ow == wk
        if not np.any(mine):
            continue
        lean = start_w.copy()
        lean[mine] = lean[mine] + 2.0 * float(np.sum(start_w))  # this worker's answers lead the start
        lean_votes = np.bincount(oc, weights=lean, minlength=offset)
        lean_totals = np.bincount(oq, weights=lean, minlength=n_q)
        q_p, q_it, q_conv = run(lean_votes / lean_totals[cls_q])
        it, converged = max(it, q_it), converged and q_conv
        if not any(np.allclose(q_p, m, atol=1e-4) for _, m in modes):
            modes.append((log_likelihood(q_p), q_p))
    lls = np.array([ll for ll, _ in modes])
    share = np.exp(lls - lls.max())
    share /= share.sum()
    p = np.sum([s * m for s, (_, m) in zip(share, modes)], axis=0)
    post = e_step(p)
    posteriors = tuple({a: float(post[starts[i] + k]) for k, a in enumerate(classes[i])} for i in range(n_q))
    labels = tuple(max(d, key=d.__getitem__) if d else None for d in posteriors)
    return DawidSkeneResult(
        workers=workers,
        accuracy={w: float(p[k]) for k, w in enumerate(workers)},
        answered={w: int(answered[k]) for k, w in enumerate(workers)},
        scored={w: int(n_scored[k]) for k, w in enumerate(workers)},
        posteriors=posteriors,
        labels=labels,
        iterations=it,
        converged=converged,
        modes=len(modes),
        mode_share=float(share.max()),
    )


def _complete_linkage(d: NDArray[np.float64], radius: float) -> list[int]:
    """Cluster ids of complete-linkage agglomeration stopped at ``radius`` (clusters merge while the
    largest distance between their members stays below ``radius``)."""
    n = d.shape[0]
    members: list[list[int]] = [[i] for i in range(n)]
    link = d.copy()
    np.fill_diagonal(link, np.inf)
    alive = list(range(n))
    while len(alive) > 1:
        sub = link[np.ix_(alive, alive)]
        flat = int(np.argmin(sub))
        i, j = divmod(flat, len(alive))
        if not sub[i, j] < radius:
            break
        a, b = alive[i], alive[j]
        members[a].extend(members[b])
        # Complete linkage: the merged cluster is as far from each other as its farthest member.
        link[a, :] = np.maximum(link[a, :], link[b, :])
        link[:, a] = link[a, :]
        link[a, a] = np.inf
        alive.remove(b)
    label = [0] * n
    for cid, root in enumerate(alive):
        for m in members[root]:
            label[m] = cid
    return label


def agreement_labels(names: Sequence[str], embeddings: ArrayLike, *, radius: float = 0.2) -> dict[str, str]:
    """One question's responses turned into answer labels ``{worker: "#k"}``: a worker's several
    responses are averaged (then re-normalised), and workers share a label when they fall in one
    complete-linkage cluster at cosine distance ``radius``."""
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise TypeError(f"names: expected a sequence of worker names, got {type(names).__name__}")
    for w in names:
        if not isinstance(w, str) or not w:
            raise TypeError(f"names: worker names must be non-empty strings, got {w!r}")
    radius = _check_radius(radius)
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] != len(names):
        raise ValueError(f"embeddings: expected one row per name ({len(names)} x dim), got shape {e.shape}")
    order = list(dict.fromkeys(names))
    means = []
    for w in order:
        sel = e[[k for k, n in enumerate(names) if n == w]]
        m = sel.mean(axis=0)
        norm = float(np.linalg.norm(m))
        if not math.isfinite(norm):
            raise ValueError(f"embeddings: the rows of {w!r} contain NaN or infinite values")
        # Opposite responses cancel to ~0: fall back to the first (cosine_distances rejects a zero row).
        means.append(m if norm > 1e-12 else sel[0])
    labels = _complete_linkage(cosine_distances(np.asarray(means)), float(radius))
    return {w: f"#{labels[k]}" for k, w in enumerate(order)}


def agreement_reliability(
    questions: Sequence[tuple[Sequence[str], ArrayLike]],
    *,
    radius: float = 0.2,
    max_iter: int = 200,
    tol: float = 1e-8,
    prior: tuple[float, float] = (1.0, 1.0),
) -> DawidSkeneResult:
    """Reliability for free text: per question ``(names, embeddings)`` (one row per response, rows
    of the same worker averaged), labelled by :func:`agreement_labels` at ``radius``, then
    :func:`dawid_skene` with open answers. The result's answers are cluster labels ``"#k"`` (per
    question). ``radius`` depends on the embedder: it should sit between the distance of two phrasings
    of one answer and that of two different answers."""
    if isinstance(questions, (str, bytes, Mapping)) or not isinstance(questions, Sequence):
        raise TypeError(
            f"questions: expected a list of (names, embeddings) pairs, got {type(questions).__name__}"
        )
    rows: list[Answers] = []
    for i, q in enumerate(questions):
        if not isinstance(q, (tuple, list)) or len(q) != 2:
            raise TypeError(f"questions[{i}]: expected a (names, embeddings) pair")
        rows.append(agreement_labels(q[0], q[1], radius=radius))
    return dawid_skene(rows, max_iter=max_iter, tol=tol, prior=prior)


def marginal_caps(answers: Sequence[Answers], n_classes: Sequence[int | None]) -> dict[str, float]:
    """Upper bounds on each worker's accuracy from its own answer distribution, over the questions
    with a fixed answer set whose true answers are uniform over their positions (benchmarks balance
    them; most real option lists do not favour one letter). A worker with accuracy p answers a given
    letter with probability at most p / K + (1 - p), so a worker that says "B" on a share f of the
    questions has p <= (1 - f) / (1 - 1/K), and never less than chance, 1/K. One-coin Dawid-Skene
    cannot see such a habit on its own: a worker that nearly always says "B" agrees with every other
    worker whenever the truth is B and can pass for the most reliable one. Questions with an open
    answer set (None) are left out; a worker is bounded only once it answered at least 8 of them."""
    counts: dict[str, Counter[str]] = {}
    ks: dict[str, list[int]] = {}
    for row, k in zip(answers, n_classes):
        if k is None:
            continue
        for w, a in row.items():
            if a is not None:
                counts.setdefault(w, Counter())[a] += 1
                ks.setdefault(w, []).append(int(k))
    out: dict[str, float] = {}
    for w, c in counts.items():
        n = sum(c.values())
        if n < _MIN_FOR_CAP:
            continue
        f = max(c.values()) / n
        k_mean = sum(ks[w]) / len(ks[w])
        # Never below chance: a worker at 1/K carries no evidence either way, while a lower accuracy
        # would make its answer count against itself.
        out[w] = float(min(1.0, max(1.0 / k_mean, (1.0 - f) / (1.0 - 1.0 / k_mean))))
    return out


class ReliabilityState:
    """The questions seen so far (at most the last ``max_questions``, oldest dropped first), each
    kept as ``{worker: label or None}`` with its number of possible answers, and the Dawid-Skene
    estimate over them.

    Extracted answers go in with :meth:`add_answers` (``n_classes``: that question's number of possible
    answers, e.g. 2 for yes/no or the option count; default the state's own, None for open answers),
    free text with :meth:`add_embeddings` (labelled by :func:`agreement_labels` at ``radius``, kept as
    an open question, so no embedding is stored). :meth:`accuracies` gives each model's estimated
    accuracy; :meth:`quality` combines it with feedback posteriors. :meth:`to_dict` / :meth:`from_dict`
    persist it as JSON.
    """

    VERSION = 1

    def __init__(
        self,
        max_questions: int = 500,
        *,
        prior: tuple[float, float] = (1.0, 1.0),
        radius: float = 0.2,
        n_classes: int | None = None,
    ) -> None:
        self.max_questions = check_int("max_questions", max_questions, 1)
        self.prior = _check_prior(prior)
        self.radius = _check_radius(radius)
        self.n_classes = None if n_classes is None else check_int("n_classes", n_classes, 2)
        self._questions: deque[tuple[dict[str, str | None], int | None, dict[str, float] | None]] = deque(
            maxlen=self.max_questions
        )
        self._result: DawidSkeneResult | None = None

    def __len__(self) -> int:
        return len(self._questions)

    @property
    def questions(self) -> list[dict[str, str | None]]:
        """The kept questions' labels, oldest first (copies)."""
        return [dict(q) for q, _, _ in self._questions]

    def add_answers(
        self,
        answers: Answers,
        n_classes: int | _Default | None = _DEFAULT,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        """Adds one question's extracted answers ``{worker: answer or None}``; ``weights``: each
        worker's own probability for its answer, in (0, 1], where known (see :func:`dawid_skene`)."""
        k = self.n_classes if isinstance(n_classes, _Default) else n_classes
        (row,) = _check_answers([answers])
        _possible_answers(k, np.asarray([len({a for a in row.values() if a is not None})]))
        kept = None if weights is None else {str(w): float(v) for w, v in weights.items()}
        if kept is not None and any(not (0.0 < v <= 1.0) for v in kept.values()):
            raise ValueError(f"weights: expected numbers in (0, 1], got {weights!r}")
        self._questions.append((row, k, kept))
        self._result = None

    def add_embeddings(self, names: Sequence[str], embeddings: ArrayLike) -> None:
        """Adds one question's responses as embeddings (one row per response, ``names`` per row)."""
        labels: dict[str, str | None] = dict(agreement_labels(names, embeddings, radius=self.radius))
        self._questions.append((labels, None, None))
        self._result = None

    def estimate(self) -> DawidSkeneResult | None:
        """Dawid-Skene over the kept questions (cached until the next add); None before any answer."""
        if self._result is None and any(a is not None for q, _, _ in self._questions for a in q.values()):
            rows = [q for q, _, _ in self._questions]
            ks = [k for _, k, _ in self._questions]
            self._result = dawid_skene(
                rows,
                prior=self.prior,
                n_classes=ks,
                weights=[w for _, _, w in self._questions],
                caps=marginal_caps(rows, ks),
            )
        return self._result

    def accuracies(self, names: Iterable[str] | None = None) -> dict[str, float]:
        """Estimated accuracy per model; with ``names``, exactly those, a model never scored getting
        the prior mean ``prior_correct / (prior_correct + prior_wrong)``."""
        res = self.estimate()
        prior_mean = self.prior[0] / (self.prior[0] + self.prior[1])
        known = {} if res is None else {w: p for w, p in res.accuracy.items() if res.scored[w] > 0}
        if names is None:
            return dict(known)
        return {n: known.get(n, prior_mean) for n in names}

    def quality(self, names: Iterable[str], feedback: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The quality q per model for the prior field: the feedback posterior's mean where it holds
        any feedback (an object with ``alpha``/``beta`` above the Beta(1, 1) start, as
        :class:`thermoconsensus.routing.learning.BetaPosterior`), else the label-free accuracy."""
        names = list(names)
        est = self.accuracies(names)
        out = {}
        for n in names:
            post = None if feedback is None else feedback.get(n)
            if post is not None and float(post.alpha) + float(post.beta) > 2.0:
                out[n] = float(post.alpha) / (float(post.alpha) + float(post.beta))
            else:
                out[n] = est[n]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "version": self.VERSION,
            "max_questions": self.max_questions,
            "prior": list(self.prior),
            "radius": self.radius,
            "n_classes": self.n_classes,
            "questions": [{"answers": dict(q), "n_classes": k, "weights": w} for q, k, w in self._questions],
        }

    @classmethod
    def from_dict(cls, data: Any) -> ReliabilityState:
        """The inverse of :meth:`to_dict`; ValueError on a malformed state."""
        if not isinstance(data, Mapping) or data.get("version") != cls.VERSION:
            raise ValueError(f"reliability state: expected an object with version {cls.VERSION}")
        try:
            state = cls(
                data["max_questions"],
                prior=tuple(data["prior"]),
                radius=data["radius"],
                n_classes=data["n_classes"],
            )
            for q in data["questions"]:
                state.add_answers(q["answers"], q["n_classes"], q.get("weights"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"reliability state: malformed ({exc})") from None
        return state
