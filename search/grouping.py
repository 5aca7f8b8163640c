"""Same-event grouping of a result page, the same on every backend.

The first ``GROUP_WINDOW`` ranked matches are grouped (search/events.py:
articles that report one event, each group led by its best-ranked
article). The results are then the groups' leaders in rank order, followed
by the matches ranked after the window, one by one; a page is ``size`` of
those, and each leader carries its group's other articles. So the first
pages show ``size`` distinct events each, as Elasticsearch's ``collapse``
does, and an article is shown once, on its leader's page.

Only the window is grouped: grouping every match would read a signature
per match (a common word matches most of the archive), and the articles
of one event rank close together, so the first hundred hold the groups a
reader sees. Past the window, results are as they were.

Cursor paging and exports are never grouped (``SearchRequest.grouped``):
a cursor continues a ranking article by article, and a page that moved an
article up under its leader would show it again after the cursor, or skip
it. Elasticsearch refuses ``collapse`` with ``scroll`` for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search import events

GROUP_WINDOW = 100  # ranked matches that are grouped (at ~1 ms per 100: bench/grouping_eval.py)


@dataclass
class PageGroups:
    """A grouped page: ``leaders`` are positions in the ranking (the hits, in
    order), ``members[i]`` the other positions of ``leaders[i]``'s group,
    ``hidden`` how many matches of the window are shown under a leader
    rather than as hits."""
    leaders: list[int]
    members: list[list[int]]
    hidden: int


def ranked_needed(skip: int, size: int) -> int:
    """How many ranked matches a grouped page may need: the window, and the
    page beyond what the window's groups took out of the list."""
    return skip + size + GROUP_WINDOW


def window(ranked_count: int) -> int:
    """How many of ``ranked_count`` ranked matches are grouped."""
    return min(GROUP_WINDOW, ranked_count)


def page_groups(ranked_count: int, signatures: np.ndarray, days: np.ndarray, skip: int, size: int) -> PageGroups:
    """Page ``skip // size + 1`` of a ranking of ``ranked_count`` matches
    (at least ``ranked_needed(skip, size)`` of them, or all), grouped;
    ``signatures`` and ``days`` are those of the first ``window(ranked_count)``
    in rank order (events.stack, events.day_numbers)."""
    grouped = window(ranked_count)
    groups = events.group_indexes(signatures, days) if grouped > 1 else [[0]] * grouped
    order = [*groups, *([position] for position in range(grouped, ranked_count))]
    page = order[skip:skip + size]
    return PageGroups(leaders=[group[0] for group in page], members=[group[1:] for group in page],
                      hidden=grouped - len(groups))
