"""Published reference figures, keyed by dataset name, that a bench report sets beside its own.

Only figures measured on the same interaction data and protocol as ours
(leave-one-out, full ranking) belong here; each carries its source.
"""

from __future__ import annotations

from typing import Any

#: TIGER (Rajput et al., "Recommender Systems with Generative Retrieval", NeurIPS 2023), Table 1,
#: on the Amazon Beauty 5-core sequences that ../shared/data/amazon-beauty holds.
TIGER_PAPER = "Rajput et al., NeurIPS 2023 (TIGER), Table 1"

PUBLISHED: dict[str, dict[str, dict[str, Any]]] = {
    "amazon-beauty": {
        "tiger": {
            "label": "TIGER (paper)",
            "source": TIGER_PAPER,
            "test": {"recall@5": 0.0454, "ndcg@5": 0.0321, "recall@10": 0.0648, "ndcg@10": 0.0384},
        },
        "sasrec": {
            "label": "SASRec (as reported in the TIGER paper)",
            "source": TIGER_PAPER,
            "test": {"recall@5": 0.0387, "ndcg@5": 0.0249, "recall@10": 0.0605, "ndcg@10": 0.0318},
        },
    }
}


def published_for(dataset: str) -> dict[str, dict[str, Any]]:
    """The reference rows for ``dataset`` (empty when none are known)."""
    return PUBLISHED.get(dataset, {})
