"""Item content -> vectors: text (sentence-transformers, cached) or attribute ids (tf-idf + SVD).

Importing this package is cheap: sentence-transformers is loaded only when text
is actually embedded.
"""

from quasid.data.text import attach_texts, item_texts  # built with the catalog; handed on here
from quasid.features.attributes import attribute_embeddings, attribute_matrix, embed_attributes
from quasid.features.embed import default_cache_dir, embed_catalog, embed_texts, load_encoder

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
