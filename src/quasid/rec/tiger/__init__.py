"""TIGER generative retrieval (Rajput et al. 2023) on Hugging Face T5, constrained to valid SIDs."""

from quasid.rec.tiger.examples import HistoryEncoder, PrefixExamples
from quasid.rec.tiger.model import LEVERS_OFF, TIGER_COMPACT, TIGER_PAPER, Tiger, TigerConfig, ranks_in_beams
from quasid.rec.tiger.trie import SIDTrie, TrieConstraint
from quasid.rec.tiger.vocab import BOS, EOS, PAD, SIDVocab, item_tokens

__all__ = [
    "BOS",
    "EOS",
    "LEVERS_OFF",
    "PAD",
    "TIGER_COMPACT",
    "TIGER_PAPER",
    "HistoryEncoder",
    "PrefixExamples",
    "SIDTrie",
    "SIDVocab",
    "Tiger",
    "TigerConfig",
    "TrieConstraint",
    "item_tokens",
    "ranks_in_beams",
]
