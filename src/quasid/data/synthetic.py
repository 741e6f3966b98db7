"""A built-in synthetic dataset that has the structure QuaSID is about.

``quasid demo`` and the unit tests run on it, so it carries each kind of
collision the method must tell apart (QUASID.md section 1):

- hierarchical semantic clusters (topic -> subtopic -> item, Gaussian around
  each centre, L2-normalised), so residual quantization has coarse-to-fine
  structure to find; distinct items in one subtopic are the *harmful*
  collisions a tokenizer should avoid;
- variant groups (benign collisions): a ``variant_frac`` share of items are 2-4
  variants of one product with the same group key (``catalog.group_keys``,
  "g17"), the same text, and embeddings within tiny noise (cos >= 0.99);
- items with missing content: zero embedding, empty text, ``missing=True``;
- user histories driven by latent interests (1-3 subtopics per user), Zipf-like
  item popularity and sequential continuity (the next item tends to share the
  previous one's subtopic), plus a hidden collaborative factor per item that
  content does not show: every item (variants included) has its own audience
  vector and popularity, and users stick to one variant of a product. So
  variants with identical content are still separable from interactions.

Everything is drawn from one ``numpy`` generator: the same seed gives the same
arrays.
"""

from __future__ import annotations

import numpy as np

from quasid.data.catalog import Catalog
from quasid.data.dataset import Dataset
from quasid.data.interactions import Interactions
from quasid.errors import ConfigError

# Geometry (noise norms; with dim=64: cos(item, own subtopic) ~ 0.9, items of one
# subtopic ~ 0.8, same topic / other subtopic ~ 0.5, other topics ~ 0).
SUBTOPIC_SPREAD = 0.8
ITEM_SPREAD = 0.5
VARIANT_SPREAD = 0.03  # cos(variant, variant) ~ 0.9995
# Behaviour.
HIDDEN_DIM = 8  # size of the hidden collaborative (audience) factor
AUDIENCE_STRENGTH = 3.0  # weight of user . item audience match in choice logits
ZIPF_EXPONENT = 0.9  # item popularity ~ rank^-a
P_CONTINUE = 0.5  # next item from the previous item's subtopic
P_EXPLORE = 0.1  # next item from a random subtopic (by popularity)
P_SWITCH_VARIANT = 0.05  # chance a user accepts a second variant of a product already used
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _noise(rng: np.random.Generator, shape: tuple[int, int], spread: float) -> np.ndarray:
    """Gaussian noise whose rows have norm ~ ``spread`` regardless of dimension."""
    return rng.standard_normal(shape) * (spread / np.sqrt(shape[1]))


def _words(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct pseudo-words of 2-3 syllables."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        n_syl = int(rng.integers(2, 4))
        word = "".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), n_syl))
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


def _group_sizes(rng: np.random.Generator, n_variant_items: int) -> list[int]:
    """Sizes (2-4) of the variant groups, summing to ``n_variant_items`` (or one less)."""
    sizes: list[int] = []
    left = n_variant_items
    while left >= 2:
        size = int(rng.integers(2, 5))
        if size > left or left - size == 1:
            size = left if left <= 4 else 2
        sizes.append(size)
        left -= size
    return sizes


def _validate(**p: float) -> None:
    checks = [
        (p["n_items"] >= 2, "n_items must be >= 2"),
        (p["n_users"] >= 1, "n_users must be >= 1"),
        (p["dim"] >= 2, "dim must be >= 2"),
        (p["n_topics"] >= 1 and p["n_subtopics"] >= 1, "n_topics and n_subtopics must be >= 1"),
        (0 <= p["variant_frac"] <= 1, "variant_frac must be in [0, 1]"),
        (0 <= p["missing_frac"] < 1, "missing_frac must be in [0, 1)"),
        (p["variant_frac"] + p["missing_frac"] <= 1, "variant_frac + missing_frac must be <= 1"),
        (1 <= p["min_len"] <= p["max_len"], "need 1 <= min_len <= max_len"),
        (p["max_len"] <= p["n_items"], "max_len must be <= n_items (items do not repeat in a history)"),
    ]
    for ok, message in checks:
        if not ok:
            shown = ", ".join(f"{k}={v}" for k, v in p.items())
            raise ConfigError(f"make_synthetic: {message} (got {shown})")


def make_synthetic(
    n_items: int = 2000,
    n_users: int = 1500,
    dim: int = 64,
    n_topics: int = 8,
    n_subtopics: int = 6,
    variant_frac: float = 0.2,
    missing_frac: float = 0.03,
    min_len: int = 5,
    max_len: int = 30,
    seed: int = 0,
) -> Dataset:
    """A catalog with embeddings, texts, group keys, attributes and a user log.

    Args:
        n_items: catalog size; item ids are ``"1"..str(n_items)``.
        n_users: number of user histories.
        dim: embedding dimension.
        n_topics: top-level clusters.
        n_subtopics: subclusters per topic.
        variant_frac: share of items that are variants (groups of 2-4) of a product.
        missing_frac: share of items with no content (zero vector, empty text).
        min_len, max_len: bounds of each user's history length (no repeated items).
        seed: everything is drawn from ``numpy.random.default_rng(seed)``.

    The catalog also carries attributes ``[topic, subtopic]`` with readable names
    (empty for missing items), so the attribute path can be exercised too.
    """
    _validate(
        n_items=n_items,
        n_users=n_users,
        dim=dim,
        n_topics=n_topics,
        n_subtopics=n_subtopics,
        variant_frac=variant_frac,
        missing_frac=missing_frac,
        min_len=min_len,
        max_len=max_len,
    )
    rng = np.random.default_rng(seed)
    n_sub = n_topics * n_subtopics

    # ---- semantic hierarchy
    topic_c = _unit(rng.standard_normal((n_topics, dim)))
    sub_topic = np.repeat(np.arange(n_topics), n_subtopics)  # topic of each global subtopic
    sub_c = _unit(topic_c[sub_topic] + _noise(rng, (n_sub, dim), SUBTOPIC_SPREAD))
    sub_weight = rng.gamma(2.0, size=n_sub)
    sub_weight /= sub_weight.sum()

    # ---- products: variant groups first, then single items
    sizes = _group_sizes(rng, round(variant_frac * n_items))
    n_groups = len(sizes)
    n_single = n_items - sum(sizes)
    product_size = np.array(sizes + [1] * n_single, dtype=np.int64)
    n_products = len(product_size)
    product_sub = rng.choice(n_sub, size=n_products, p=sub_weight)
    if n_products >= n_sub:  # every subtopic gets at least one product
        product_sub[rng.permutation(n_products)[:n_sub]] = np.arange(n_sub)
    product_emb = _unit(sub_c[product_sub] + _noise(rng, (n_products, dim), ITEM_SPREAD))

    # ---- items: expand products, then shuffle so ids carry no structure
    item_product = rng.permutation(np.repeat(np.arange(n_products), product_size))
    item_sub = product_sub[item_product]
    is_variant = item_product < n_groups
    emb = product_emb[item_product].copy()
    emb[is_variant] = _unit(emb[is_variant] + _noise(rng, (int(is_variant.sum()), dim), VARIANT_SPREAD))
    missing = np.zeros(n_items, dtype=bool)
    n_missing = min(round(missing_frac * n_items), int((~is_variant).sum()))
    missing[rng.choice(np.flatnonzero(~is_variant), size=n_missing, replace=False)] = True
    emb[missing] = 0.0

    # ---- text: topic / subtopic words + one product word, shared by a product's variants
    topic_words = _words(rng, 4 * n_topics)
    sub_words = _words(rng, 4 * n_sub)
    product_words = _words(rng, min(n_products, 4096))
    texts_by_product = []
    for p in range(n_products):
        s = int(product_sub[p])
        t, local = divmod(s, n_subtopics)
        picks = [
            topic_words[4 * t + int(rng.integers(4))],
            sub_words[4 * s + int(rng.integers(4))],
            sub_words[4 * s + int(rng.integers(4))],
            product_words[p % len(product_words)],
        ]
        texts_by_product.append(f"topic {t} / subtopic {local} / item {p + 1}: {' '.join(picks)}")
    texts = [texts_by_product[p] for p in item_product]
    group_keys = np.array([f"g{p}" if p < n_groups else "" for p in item_product], dtype=object)
    attribute_names = {1 + t: f"topic {t}" for t in range(n_topics)}
    attribute_names.update(
        {1 + n_topics + s: f"topic {s // n_subtopics} / subtopic {s % n_subtopics}" for s in range(n_sub)}
    )
    attributes = [[1 + int(sub_topic[s]), 1 + n_topics + int(s)] for s in item_sub]
    for i in np.flatnonzero(missing):
        texts[i] = ""
        attributes[i] = []

    catalog = Catalog(
        item_ids=np.array([str(i + 1) for i in range(n_items)], dtype=object),
        texts=texts,
        attributes=attributes,
        attribute_names=attribute_names,
        group_keys=group_keys,
        embeddings=emb.astype(np.float32),
        missing=missing,
        name="synthetic",
    )
    sequences = _histories(
        rng, n_users, item_sub, item_product, n_topics, n_subtopics, sub_weight, min_len, max_len
    )
    interactions = Interactions.from_sequences(
        sequences, n_items=n_items, user_ids=[str(u + 1) for u in range(n_users)]
    )
    return Dataset(catalog, interactions)


def _histories(
    rng: np.random.Generator,
    n_users: int,
    item_sub: np.ndarray,
    item_product: np.ndarray,
    n_topics: int,
    n_subtopics: int,
    sub_weight: np.ndarray,
    min_len: int,
    max_len: int,
) -> list[list[int]]:
    """User sequences from latent interests, popularity, continuity and the hidden audience factor."""
    n_items = len(item_sub)
    n_sub = n_topics * n_subtopics
    # hidden collaborative signal: independent of content, different for each variant
    audience = _unit(rng.standard_normal((n_items, HIDDEN_DIM)))
    log_pop = -ZIPF_EXPONENT * np.log1p(rng.permutation(n_items).astype(np.float64))
    order = np.argsort(item_sub, kind="stable")
    bounds = np.searchsorted(item_sub[order], np.arange(n_sub + 1))
    members = [order[bounds[s] : bounds[s + 1]] for s in range(n_sub)]
    nonempty = np.array([len(m) > 0 for m in members])
    sub_p = sub_weight * nonempty
    sub_cdf = np.cumsum(sub_p / sub_p.sum())
    # a product's variants: for the stickiness check
    variant_of = item_product

    sequences: list[list[int]] = []
    for _ in range(n_users):
        taste = _unit(rng.standard_normal(HIDDEN_DIM))
        # 1-3 interests: the first by subtopic popularity, the others often in the same topic
        n_int = int(rng.integers(1, 4))
        first = int(min(np.searchsorted(sub_cdf, rng.random(), side="right"), n_sub - 1))
        interests = [first]
        for _ in range(n_int - 1):
            if rng.random() < 0.5:
                topic = first // n_subtopics
                cand = topic * n_subtopics + int(rng.integers(n_subtopics))
            else:
                cand = int(min(np.searchsorted(sub_cdf, rng.random(), side="right"), n_sub - 1))
            if nonempty[cand] and cand not in interests:
                interests.append(cand)
        int_cdf = np.cumsum(rng.dirichlet(np.ones(len(interests))))
        length = min(min_len + int((max_len - min_len + 1) * rng.random() ** 2), max_len)
        cdfs: dict[int, np.ndarray] = {}
        seen: set[int] = set()
        products: set[int] = set()
        seq: list[int] = []
        prev_sub = interests[0]
        draws = rng.random((length, 8))  # subtopic choice, interest, 5 item tries, variant switch
        while len(seq) < length:
            u = draws[len(seq)]
            if seq and u[0] < P_CONTINUE:
                s = prev_sub
            elif u[0] < P_CONTINUE + P_EXPLORE:
                s = int(min(np.searchsorted(sub_cdf, u[1], side="right"), n_sub - 1))
            else:
                s = interests[int(min(np.searchsorted(int_cdf, u[1], side="right"), len(interests) - 1))]
            cdf = cdfs.get(s)
            if cdf is None:
                logits = log_pop[members[s]] + AUDIENCE_STRENGTH * (audience[members[s]] @ taste)
                w = np.exp(logits - logits.max())
                cdf = cdfs[s] = np.cumsum(w / w.sum())
            item = -1
            for attempt in range(5):
                cand = int(members[s][min(np.searchsorted(cdf, u[2 + attempt], side="right"), len(cdf) - 1)])
                if cand not in seen and (variant_of[cand] not in products or u[7] < P_SWITCH_VARIANT):
                    item = cand
                    break
            if item < 0:  # popular picks taken: draw among this subtopic's remaining items
                item = _fallback(rng, members[s], cdf, seen, products, variant_of, n_items)
            seq.append(item)
            seen.add(item)
            products.add(int(variant_of[item]))
            prev_sub = int(item_sub[item])
        sequences.append(seq)
    return sequences


def _fallback(
    rng: np.random.Generator,
    members: np.ndarray,
    cdf: np.ndarray,
    seen: set[int],
    products: set[int],
    variant_of: np.ndarray,
    n_items: int,
) -> int:
    """An unseen item of the subtopic by its weights (other variants last), else any unseen item."""
    weights = np.diff(cdf, prepend=0.0)
    fresh = np.array([int(i) not in seen for i in members])
    for allowed in (fresh & np.array([int(variant_of[i]) not in products for i in members]), fresh):
        w = weights * allowed
        if w.sum() > 0:
            c = np.cumsum(w / w.sum())
            return int(members[min(np.searchsorted(c, rng.random(), side="right"), len(c) - 1)])
    free = np.setdiff1d(np.arange(n_items), np.fromiter(seen, dtype=np.int64, count=len(seen)))
    return int(free[rng.integers(len(free))])
