"""Downstream recommenders on Semantic IDs, and the protocol that evaluates them.

``metrics``: full-ranking Recall@K / NDCG@K with an exact tie rule;
``evaluate``: leave-one-out and cold-start protocols and a generic training
loop; ``sasrec``: SASRec with id or SID-composed item embeddings.
"""

from quasid.rec.evaluate import (
    Checkpoint,
    EpochRecord,
    EvalSet,
    FitResult,
    RankingModel,
    TrainConfig,
    Trainer,
    cold_start_sets,
    fit_and_evaluate,
    fit_and_evaluate_cold_start,
    leave_one_out_sets,
)
from quasid.rec.metrics import (
    Ranks,
    ndcg_at_k,
    per_event_metrics,
    rank_of_targets,
    ranking_metrics,
    recall_at_k,
)
from quasid.rec.sasrec import SASRec, SASRecConfig

__all__ = [
    "Checkpoint",
    "EpochRecord",
    "EvalSet",
    "FitResult",
    "RankingModel",
    "Ranks",
    "SASRec",
    "SASRecConfig",
    "TrainConfig",
    "Trainer",
    "cold_start_sets",
    "fit_and_evaluate",
    "fit_and_evaluate_cold_start",
    "leave_one_out_sets",
    "ndcg_at_k",
    "per_event_metrics",
    "rank_of_targets",
    "ranking_metrics",
    "recall_at_k",
]
