"""Hamming distance, severity and candidate-pair listing of Semantic IDs."""

from __future__ import annotations

import pytest
import torch

from quasid.errors import ConfigError
from quasid.qualify import hamming
from quasid.qualify.hamming import candidate_pairs, pairwise_hamming, severity

CODES = torch.tensor(
    [
        [1, 2, 3],
        [1, 2, 4],  # one token from row 0
        [1, 5, 4],  # two from row 0, one from row 1
        [1, 2, 3],  # full collision with row 0
    ]
)


def brute_force_pairs(codes: torch.Tensor, tau: int) -> list[tuple[int, int, int]]:
    rows = codes.tolist()
    out = []
    for i, ci in enumerate(rows):
        for j in range(i + 1, len(rows)):
            h = sum(a != b for a, b in zip(ci, rows[j], strict=True))
            if h <= tau:
                out.append((i, j, h))
    return out


def as_list(pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> list[tuple[int, int, int]]:
    return [tuple(int(v) for v in t) for t in zip(*pairs, strict=True)]


def test_pairwise_hamming_hand_case() -> None:
    expected = torch.tensor(
        [
            [0, 1, 2, 0],
            [1, 0, 1, 1],
            [2, 1, 0, 2],
            [0, 1, 2, 0],
        ]
    )
    h = pairwise_hamming(CODES)
    assert h.dtype == torch.long
    assert torch.equal(h, expected)


def test_pairwise_hamming_rejects_flat_codes() -> None:
    with pytest.raises(ValueError, match="batch, levels"):
        pairwise_hamming(torch.tensor([1, 2, 3]))


def test_severity_is_shared_levels_over_length() -> None:
    s = severity(torch.tensor([0, 1, 2, 3]), n_levels=3)
    assert s.dtype == torch.float32
    assert torch.allclose(s, torch.tensor([1.0, 2 / 3, 1 / 3, 0.0]))
    with pytest.raises(ConfigError, match="n_levels"):
        severity(torch.tensor([0]), n_levels=0)


def test_candidate_pairs_hand_case() -> None:
    assert as_list(candidate_pairs(CODES, tau=0)) == [(0, 3, 0)]
    assert as_list(candidate_pairs(CODES, tau=1)) == [(0, 1, 1), (0, 3, 0), (1, 2, 1), (1, 3, 1)]
    assert len(as_list(candidate_pairs(CODES, tau=3))) == 6
    with pytest.raises(ConfigError, match="tau"):
        candidate_pairs(CODES, tau=-1)


@pytest.mark.parametrize("path", ["sparse", "dense"])
def test_candidate_pairs_match_brute_force(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "sparse":  # force the grouping listing even for small, collision-dense batches
        monkeypatch.setattr(hamming, "DENSE_MAX_BATCH", 0)
        monkeypatch.setattr(hamming, "DENSE_PAIR_FRACTION", 0)
    else:
        monkeypatch.setattr(hamming, "DENSE_MAX_BATCH", 10**9)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        b = int(torch.randint(1, 40, (1,), generator=g))
        n_levels = int(torch.randint(1, 5, (1,), generator=g))
        k = int(torch.randint(1, 4, (1,), generator=g))
        codes = torch.randint(0, k, (b, n_levels), generator=g)
        for tau in range(n_levels + 2):
            assert as_list(candidate_pairs(codes, tau)) == brute_force_pairs(codes, tau), (
                b,
                n_levels,
                k,
                tau,
            )


def test_candidate_pairs_with_huge_token_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # tokens near 2^40: combining three levels into one key would overflow int64 without re-numbering
    monkeypatch.setattr(hamming, "DENSE_MAX_BATCH", 0)
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 3, (30, 4), generator=g) + (1 << 40)
    for tau in range(4):
        assert as_list(candidate_pairs(codes, tau)) == brute_force_pairs(codes, tau)


def test_candidate_pairs_of_a_tiny_batch_are_empty() -> None:
    i, j, h = candidate_pairs(torch.tensor([[1, 2, 3]]), tau=1)
    assert i.numel() == j.numel() == h.numel() == 0
