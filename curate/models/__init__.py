"""Models shipped inside the package (loaded offline).

``minilm-static/``: a model2vec static embedding model distilled from the packaged
all-MiniLM-L6-v2 (``model2vec.distill``, PCA to 256 dims, int8 weights, ~7.6 MB). Used by
``curate.embed.get_embedder("fast")``. How it was made and measured: docs/dedup.md.
"""
