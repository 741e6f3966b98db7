"""Item content -> vectors: text (sentence-transformers, cached) or attribute ids (tf-idf + SVD).

Importing this package is cheap: sentence-transformers is loaded only when text
is actually embedded.
"""

from quasid.features.attributes import attribute_embeddings, attribute_matrix, embed_attributes
from quasid.features.embed import default_cache_dir, embed_catalog, embed_texts, load_encoder
from quasid.features.text import attach_texts, item_texts

__all__ = [
    "attach_texts",
    "attribute_embeddings",
    "attribute_matrix",
    "default_cache_dir",
    "embed_attributes",
    "embed_catalog",
    "embed_texts",
    "item_texts",
    "load_encoder",
]
