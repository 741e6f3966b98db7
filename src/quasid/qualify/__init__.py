"""The paper's mechanisms as plug-and-play torch modules.

- ``hamming``: Hamming distance between SIDs, collision severity, candidate pairs.
- ``masking``: Conflict-Aware Valid Pair Masking (CAVPM), the benign-collision rules.
- ``repulsion``: Hamming-guided Margin Repulsion (HMR), the severity-scaled hinge.
- ``contrastive``: the dual-tower InfoNCE objective that adds collaborative signal (and the
  item-to-item InfoNCE on collaborative positives of the public re-implementation).
- ``cooccurrence``: PPMI of windowed co-occurrence, the collaborative positives.

Any tokenizer exposing latents z and codes c adds repulsion with::

    hmr = HammingMarginRepulsion(n_levels=3, mask_context=MaskContext.from_catalog(catalog, seqs))
    loss = loss + lam * hmr(z, codes, item_index).loss
"""

from quasid.qualify.contrastive import (
    CooccurrenceContrastive,
    DualTowerContrastive,
    UserTower,
    sample_user_batches,
)
from quasid.qualify.cooccurrence import CollaborativePositives, ppmi
from quasid.qualify.hamming import candidate_pairs, pairwise_hamming, severity
from quasid.qualify.masking import (
    RULES,
    MaskConfig,
    MaskContext,
    cooccurrence,
    pair_cosine,
    valid_pair_mask,
    valid_pairs,
)
from quasid.qualify.repulsion import HammingMarginRepulsion, RepulsionOutput

__all__ = [
    "RULES",
    "CollaborativePositives",
    "CooccurrenceContrastive",
    "DualTowerContrastive",
    "HammingMarginRepulsion",
    "MaskConfig",
    "MaskContext",
    "RepulsionOutput",
    "UserTower",
    "candidate_pairs",
    "cooccurrence",
    "pair_cosine",
    "pairwise_hamming",
    "ppmi",
    "sample_user_batches",
    "severity",
    "valid_pair_mask",
    "valid_pairs",
]
