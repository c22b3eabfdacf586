"""Near-duplicate groups and outliers from feature vectors, found by cleanlab's Datalab.

Datalab's ``near_duplicate`` check links two images whose feature distance is
under ``threshold`` × the median distance of every image to its nearest
neighbour. A link is kept when the two are clearly closer to each other than
to anything else (``RATIO``), or all but identical (``IDENTICAL``): in a data
set of look-alikes (the same background photo, the same object) the radius
alone also links pictures that merely resemble each other. Kept links form
groups (connected components, so a copy of a copy joins its original). The
``outlier`` check scores how unlike its neighbours each image is (lower: more
unusual)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

logger = logging.getLogger(__name__)

# Datalab's default is 0.13. Measured on planted copies (bench_health.py, the layout
# features at 160 px; recall / precision of the copies planted across the split,
# precision counted against planted pairs only): 0.13 found almost none; 0.6 with the
# ratio test 1.000 / 0.933 on 660 images and 0.943 / 0.807 on 5,324 (without it
# 0.951 / 0.682). Measuring a link only against the partner (not against all of an
# image's near copies) was more precise (0.909 / 0.911) but split three copies of one
# photo apart, and the group-aware split then no longer kept them together.
NEAR_DUPLICATE_THRESHOLD = 0.6
# A link's distance must be under this share of each image's distance to its nearest image
# that is not one of its near copies.
RATIO = 0.7
IDENTICAL = 0.35  # ...unless it is under this share of the radius (all but identical)
NEIGHBOURS = 10
# Datalab's default is 10: a handful of similar odd images (six screenshots) are then each
# other's neighbours and rank as ordinary; with 40 the planted outliers' recall rose 0.33 -> 0.96.
OUTLIER_NEIGHBOURS = 40


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]  # rows of the feature matrix, nearest pair first
    sureness: float  # 1: identical features; 0: at the edge of the threshold


@dataclass(frozen=True)
class Findings:
    groups: list[Group]
    outlier_scores: np.ndarray  # (N,) lower is more unusual
    outlier_flags: np.ndarray  # (N,) bool: Datalab's outlier issue


def find_issues(vectors: np.ndarray, label_rows: Sequence[Sequence[int]] | None = None, *,
                layout_vectors: np.ndarray | None = None, threshold: float = NEAR_DUPLICATE_THRESHOLD,
                outlier_neighbours: int = OUTLIER_NEIGHBOURS) -> Findings:
    """Groups of near copies (compared by ``layout_vectors`` when given, else by
    ``vectors``) and outlier scores of ``vectors`` ((N, D), N ≥ 2)."""
    if layout_vectors is not None:
        groups = find_issues(layout_vectors, label_rows, threshold=threshold, outlier_neighbours=2).groups
        return replace(find_issues(vectors, label_rows, threshold=threshold,
                                   outlier_neighbours=outlier_neighbours), groups=groups)
    from cleanlab import Datalab

    count = len(vectors)
    features = _unit_rows(vectors)
    if label_rows is not None:
        lab = Datalab(data={"labels": [list(row) for row in label_rows]}, label_name="labels",
                      task="multilabel", verbosity=0)
    else:
        lab = Datalab(data={"row": list(range(count))}, task="multilabel", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's and pandas' chatter about the kNN graph
        lab.find_issues(features=features, issue_types={
            "near_duplicate": {"threshold": threshold, "k": min(NEIGHBOURS, count - 1)},
            "outlier": {"k": min(outlier_neighbours, count - 1)},
        })
    info = lab.get_info("near_duplicate")
    median = max(float(info["median_distance_to_nearest_neighbor"]), 1e-12)
    metric = str(info["metric"])
    links = _distinct_links(info["near_duplicate_sets"], features, threshold * median, metric)
    groups = _groups(links, features, threshold * median, metric)
    outliers = lab.get_issues("outlier")
    return Findings(groups, outliers["outlier_score"].to_numpy(dtype=np.float64),
                    outliers["is_outlier_issue"].to_numpy(dtype=bool))


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _distance(features: np.ndarray, a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Datalab's distance (its metric) between rows ``a`` and ``b`` of unit-length ``features``."""
    cosine = 1.0 - np.clip(np.einsum("ij,ij->i", features[a], features[b]), -1.0, 1.0)
    return cosine if metric == "cosine" else np.sqrt(2.0 * np.maximum(cosine, 0.0))


def _distinct_links(near_sets: Sequence[np.ndarray], features: np.ndarray, radius: float,
                    metric: str) -> list[np.ndarray]:
    """``near_sets`` with only the links that pass the ratio test (or are all but identical)."""
    from sklearn.neighbors import NearestNeighbors

    pairs = np.array([(i, int(j)) for i, near in enumerate(near_sets) for j in near if i < int(j)], dtype=np.int64)
    kept: list[list[int]] = [[] for _ in near_sets]
    if not len(pairs):
        return [np.array(row, dtype=np.int64) for row in kept]
    # Each image's nearest image that is not one of its near copies: a copy and the
    # copy of a copy (three of one photo) are not measured against each other.
    near = [set(map(int, row)) | {i} for i, row in enumerate(near_sets)]
    depth = min(len(features), max(len(row) for row in near) + 2)
    far, index = NearestNeighbors(n_neighbors=depth, metric=metric).fit(features).kneighbors(features)
    outside = np.array([next((d for d, j in zip(far[i], index[i]) if int(j) not in near[i]), far[i, -1])
                        for i in range(len(features))])
    within = _distance(features, pairs[:, 0], pairs[:, 1], metric)
    others = np.minimum(outside[pairs[:, 0]], outside[pairs[:, 1]])
    passes = (within < RATIO * others) | (within < IDENTICAL * radius)
    for (a, b), ok in zip(pairs, passes):
        if ok:
            kept[a].append(int(b))
            kept[b].append(int(a))
    return [np.array(row, dtype=np.int64) for row in kept]


def _groups(near_sets: Sequence[np.ndarray], features: np.ndarray, radius: float, metric: str) -> list[Group]:
    parent = list(range(len(near_sets)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, near in enumerate(near_sets):
        for j in near:
            parent[root(int(j))] = root(i)
    members: dict[int, list[int]] = {}
    for i, near in enumerate(near_sets):
        if len(near):
            members.setdefault(root(i), []).append(i)
    groups = []
    for rows in members.values():
        block = features[rows]
        # The distance Datalab measured (its metric, on these unit-length rows).
        cosine = 1.0 - np.clip(block @ block.T, -1.0, 1.0)
        distances = cosine if metric == "cosine" else np.sqrt(2.0 * np.maximum(cosine, 0.0))
        np.fill_diagonal(distances, np.inf)
        nearest = distances.min(axis=1)
        order = tuple(rows[k] for k in np.argsort(nearest, kind="stable"))
        sureness = float(np.clip(1.0 - nearest.max() / radius, 0.0, 1.0))
        groups.append(Group(order, sureness))
    groups.sort(key=lambda group: (-len(group.members), -group.sureness, group.members))
    return groups
