"""The converged protocol's record: compact per-user ranks, the capped-while-improving mark, the paired
bootstrap over test users, and their place in results.json and the report."""

from __future__ import annotations

import numpy as np
import pytest

from quasid.bench import BenchConfig
from quasid.bench.paired import compact_ranks, compare_cells, paired_bootstrap, per_user_ndcg
from quasid.bench.recommenders import capped_while_improving
from quasid.bench.report import comparisons, render_markdown
from quasid.rec.metrics import Ranks, per_event_metrics, ranking_metrics
from test_bench import _results  # the results.json builder of the report tests


def _ranks(n: int, rng: np.random.Generator, scale: float) -> Ranks:
    higher = np.floor(rng.exponential(scale, n))
    ties = rng.integers(0, 3, n) * (rng.random(n) < 0.3)
    return Ranks(higher, ties)


def test_compact_ranks_keep_every_users_ndcg_exactly():
    rng = np.random.default_rng(0)
    ranks = _ranks(5000, rng, 40.0)
    top = compact_ranks(ranks, 10)
    assert top is not None and top["n"] == 5000 and 0 < len(top["rows"]) < 5000  # only the top-10 cases
    per_user = per_user_ndcg({"test_top": top}, 10)
    np.testing.assert_allclose(per_user, per_event_metrics(ranks, (10,))["ndcg@10"])
    assert per_user.mean() == pytest.approx(ranking_metrics(ranks)["ndcg@10"])
    assert per_user_ndcg({"test_top": None}) is None and compact_ranks(None, 10) is None
    with_inf = Ranks(np.array([0.0, np.inf, 3.0]), np.zeros(3, np.int64))  # TIGER: a target never ranked
    assert compact_ranks(with_inf, 10)["rows"] == [0, 2]


def test_paired_bootstrap_separates_a_real_gain_from_noise():
    rng = np.random.default_rng(1)
    b = rng.random(4000) * (rng.random(4000) < 0.1)
    better = b + 0.02 * (rng.random(4000) < 0.5)  # a gain on half of the users
    won = paired_bootstrap(better, b, n_boot=500)
    assert won["diff"] > 0 and won["diff_ci"][0] > 0 and won["p_le_0"] == 0.0
    assert won["gain_ci"][0] < won["gain"] < won["gain_ci"][1]
    noise = paired_bootstrap(rng.permutation(b), b, n_boot=500)  # same distribution, no pairing gain
    assert noise["diff_ci"][0] < 0 < noise["diff_ci"][1]
    same = paired_bootstrap(b, b, n_boot=200)
    assert same["diff"] == 0 and same["diff_ci"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="equal non-empty"):
        paired_bootstrap(b, b[:-1])


def test_capped_while_improving_marks_only_cells_stopped_by_the_cap_with_a_late_best_epoch():
    train = {"patience": 3, "eval_every": 1}
    assert capped_while_improving(30, 30, "epochs", train)  # best at the last epoch of the cap
    assert capped_while_improving(28, 30, "epochs", train)  # inside the last patience window
    assert not capped_while_improving(27, 30, "epochs", train)  # would have stopped by patience next
    assert not capped_while_improving(30, 33, "patience", train)
    assert not capped_while_improving(30, 30, "time budget", train)
    assert capped_while_improving(16, 20, "epochs", {"patience": 3, "eval_every": 2})


def test_report_and_results_carry_the_paired_bootstrap_against_the_best_baseline():
    config = BenchConfig.from_dict(
        {
            "data": "synthetic",
            "methods": ["rqkmeans", "rqvae", "quasid"],
            "seeds": [0, 1],
            "recommenders": ["sasrec_sid"],
            "train": {"epochs": 1, "patience": 3},
        }
    )
    rng = np.random.default_rng(2)
    base = [_ranks(3000, rng, 30.0) for _ in range(2)]
    results = _results(
        config,
        {
            ("sasrec_sid", "rqkmeans"): [_ranks(3000, rng, 60.0) for _ in range(2)],
            ("sasrec_sid", "rqvae"): base,
            ("sasrec_sid", "quasid"): [Ranks(b.higher // 2, b.ties) for b in base],  # better on every user
        },
    )
    (paired,) = comparisons(results)
    assert (paired["method"], paired["baseline"], paired["seeds"]) == ("quasid", "rqvae", [0, 1])
    assert paired["diff_ci"][0] > 0 and paired["n_users"] == 3000
    cells = results["cells"]
    direct = compare_cells(cells[4:6], cells[2:4])
    assert direct["diff"] == pytest.approx(paired["diff"])
    md = render_markdown(results)
    assert "Paired bootstrap over test users" in md and f"{paired['diff']:+.4f}" in md
    assert "2 of 2 capped while improving" in md  # every cell ran to its cap with its best epoch last
    assert "at most 1 epochs" in md and "no wall-clock budget" in md
    results["config"]["paired_against"] = ["rqkmeans", "rqvae"]  # rqvae is the best one already
    against = [(p["method"], p["baseline"]) for p in comparisons(results)]
    assert against == [("quasid", "rqvae"), ("quasid", "rqkmeans")]
