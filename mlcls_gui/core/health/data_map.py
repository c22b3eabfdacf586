"""A 2-D map of the images' features: PCA (fast at any size), or t-SNE (scikit-learn;
neighbourhoods kept better, minutes for 20,000 images on 2 cores)."""

from __future__ import annotations

import numpy as np

MAP_METHODS = ("pca", "tsne", "none")
TSNE_PCA_DIMENSIONS = 50  # t-SNE runs on the first PCA components, as its authors advise


def map_coordinates(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) float32 coordinates of ``vectors`` (N, D); empty (0, 2) for method "none"."""
    if method == "none" or len(vectors) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if method not in MAP_METHODS:
        raise ValueError(f"Unknown map method {method!r}: choose one of {', '.join(MAP_METHODS)}.")
    from sklearn.decomposition import PCA

    centred = vectors - vectors.mean(axis=0, keepdims=True)
    if len(vectors) < 3:
        return np.pad(centred[:, :2], ((0, 0), (0, max(0, 2 - centred.shape[1])))).astype(np.float32)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(centred).astype(np.float32)
    from sklearn.manifold import TSNE

    reduced = PCA(n_components=min(TSNE_PCA_DIMENSIONS, *centred.shape), random_state=seed).fit_transform(centred)
    perplexity = float(min(30.0, max(2.0, (len(vectors) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        reduced).astype(np.float32)
