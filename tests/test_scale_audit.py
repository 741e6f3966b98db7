"""The collision audit's vectorised pieces (content keys / labels, factorize) equal their plain-loop
definitions, and the audit gives exact figures on a constructed 200k-item catalog."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quasid.data.catalog import Catalog
from quasid.metrics import sid_metrics
from quasid.metrics.grouping import factorize


def loop_content_keys(catalog: Catalog) -> list[str]:
    """The definition, one item at a time."""
    keys = []
    for i in range(catalog.n_items):
        text = catalog.texts[i] if catalog.texts is not None else ""
        if text:
            keys.append("t:" + text)
        elif catalog.attributes is not None and catalog.attributes[i]:
            keys.append("a:" + ",".join(str(a) for a in sorted(set(catalog.attributes[i]))))
        else:
            keys.append("")
    return keys


def same_partition(a, b) -> bool:
    """Equal exactly where the other is equal (labels may differ)."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist(), strict=True))
    return len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


attribute_sets = st.one_of(st.none(), st.lists(st.integers(0, 12), max_size=4))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            st.one_of(
                st.none(), st.lists(st.sampled_from(["", "red mug", "blue mug", "ü"]), min_size=n, max_size=n)
            ),
            st.one_of(st.none(), st.lists(attribute_sets, min_size=n, max_size=n)),
            st.just(n),
        )
    )
)
def test_content_keys_and_labels_match_the_loop_definition(case):
    item_texts, attributes, n = case
    catalog = Catalog(item_ids=np.arange(n), texts=item_texts, attributes=attributes)
    expected = loop_content_keys(catalog)
    assert catalog.content_keys().tolist() == expected
    labels = catalog.content_labels()
    assert ((labels < 0) == (np.asarray(expected, dtype=object) == "")).all()
    assert same_partition(labels, expected)
    if item_texts is not None or attributes is not None:
        np.testing.assert_array_equal(catalog.missing_mask(), np.asarray(expected, dtype=object) == "")


def test_string_attribute_ids_fall_back_to_the_per_item_sort():
    catalog = Catalog(item_ids=["a", "b", "c"], attributes=[["z", "b"], [], ["b", "z", "z"]])
    assert catalog.content_keys().tolist() == ["a:b,z", "", "a:b,z"]
    assert catalog.content_labels()[0] == catalog.content_labels()[2] >= 0 > catalog.content_labels()[1]


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(["", "g1", "g2", "x"])),
        st.lists(st.integers(-3, 3)),
        st.lists(st.one_of(st.none(), st.sampled_from(["a", "b"]))),
        st.lists(st.one_of(st.integers(0, 2), st.sampled_from(["0", "1"]))),  # mixed: the dict fallback
    )
)
def test_factorize_labels_equal_values_alike_and_excluded_rows_alone(values):
    arr = np.asarray(values, dtype=object)
    exclude = np.asarray([v == "" for v in values], dtype=bool)
    labels = factorize(arr, exclude=exclude)
    assert len(labels) == len(values) and (labels >= 0).all() and (labels < 2 * max(len(values), 1)).all()
    kept = ~exclude
    assert same_partition(labels[kept], [repr(v) for v in arr[kept].tolist()])
    assert len(set(labels[exclude].tolist())) == exclude.sum()
    assert not set(labels[exclude].tolist()) & set(labels[kept].tolist())


def test_zero_embedding_rows_count_as_missing_across_row_blocks():
    emb = np.ones((70000, 2), dtype=np.float32)
    emb[[3, 65536, 69999]] = 0
    catalog = Catalog(item_ids=np.arange(70000), embeddings=emb)
    assert np.flatnonzero(catalog.missing_mask()).tolist() == [3, 65536, 69999]


def test_audit_of_a_constructed_200k_catalog_is_exact():
    """Pairs (2i, 2i+1) share a SID. Pairs with i % 4 == 0 share their text (benign: content), i % 4 == 1
    share a group key (benign: group), the rest differ (harmful). Every pair's SID is its own."""
    n_pairs = 100_000
    pair = np.repeat(np.arange(n_pairs), 2)
    codes = np.stack([pair // 4096, (pair // 64) % 64, pair % 64], axis=1)
    kind = pair % 4
    side = np.tile([0, 1], n_pairs)
    texts = np.char.add(
        np.char.add("item ", pair.astype(str)), np.where(kind == 0, "", np.char.add("/", side.astype(str)))
    )
    groups = np.where(kind == 1, np.char.add("g", pair.astype(str)), "")
    catalog = Catalog(item_ids=np.arange(2 * n_pairs), texts=texts.tolist(), group_keys=groups)
    m = sid_metrics(codes, [25, 64, 64], catalog)
    assert m["colliding_pairs"] == n_pairs and m["collision_rate"] == 1.0
    assert m["benign_pairs_by_rule"]["content"] == n_pairs // 4
    assert m["benign_pairs_by_rule"]["group"] == n_pairs // 4
    assert m["benign_pairs"] == n_pairs // 2 and m["harmful_pairs"] == n_pairs // 2
    assert m["harmful_collision_rate"] == 0.5 and m["content_duplicate_items"] == n_pairs // 2
    assert m["distinct_prefixes"] == [25, 25 * 64 - (25 * 4096 - n_pairs) // 64, n_pairs]
