"""What every group of review candidates shares: the candidate set's form, and the sequence's
context beyond one track (track roles, what the viewer sees)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from model.features.grid import SequenceFeatures, step_frames
from model.suggest.review_segments import Segment
from model.suggest.review_words import copy_note, hidden_note
from model.suggest.roles import TrackRole, same_cut, track_roles
from model.suggest.visibility import Pictures, Visibility, visibility
from model.timeline.types import Sequence

HIDDEN_SHARE = 0.5  # of a segment's steps under another track's opaque full-frame picture: hidden

Explain = Callable[[int], tuple[object, object, str]]  # row -> (current, suggested, reason)


@dataclass
class CandidateSet:
    """One group's candidates on one track: a row of evidence per (segment, field); `allowed` rows
    have the support an editor would accept (the others score 0)."""

    group: str
    features: np.ndarray  # (N, len(FEATURES[group]))
    segments: list[Segment]
    fields: list[str]
    explain: Explain
    allowed: np.ndarray | None = None  # (N,) bool; None = all
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    words: dict = field(default_factory=dict)  # row -> explain(row), kept (a calibration asks again and again)

    def words_of(self, row: int) -> tuple[object, object, str]:
        if row not in self.words:
            self.words[row] = self.explain(row)
        return self.words[row]


@dataclass
class ReviewContext:
    """What every group of candidates needs to know about the sequence beyond its own track."""

    seq: Sequence
    feats: SequenceFeatures
    roles: list[TrackRole]
    vis: Visibility  # at the feature steps' frames
    pictures: Pictures | None = None  # the items' picture facts, for other samplings (the gap check)

    def copies(self, track: int) -> list[int]:
        return [t for t, r in enumerate(self.roles) if r.role == "copy" and r.of == track]

    def hidden_by(self, seg: Segment) -> int:
        """The track hiding most of the segment, if it hides at least HIDDEN_SHARE of it (its own
        copy does not count: it shows the same picture)."""
        share, by = self.vis.hidden_share(seg.track, seg.start, seg.end)
        if share < HIDDEN_SHARE or by < 0 or by in self.copies(seg.track):
            return -1
        return by

    def copies_of(self, seg: Segment) -> list[int]:
        """The copies of the segment's track that repeat its clip (a copy may differ here and there)."""
        if seg.item is None:
            return []
        return [t for t in self.copies(seg.track)
                if any(same_cut(seg.item, it) for it in self.seq.video_tracks[t].items if it.enabled)]

    def notes(self, seg: Segment) -> str:
        return copy_note(self.copies_of(seg)) + hidden_note(self.hidden_by(seg))


def review_context(seq: Sequence, feats: SequenceFeatures, roles: list[TrackRole] | None = None,
                   pictures: Pictures | None = None) -> ReviewContext:
    """`roles` and `pictures`: the sequence's track roles and item facts when the caller has them
    (a pass works them out once for review and fill)."""
    roles = track_roles(seq) if roles is None else roles
    pictures = Pictures(seq) if pictures is None else pictures
    return ReviewContext(seq, feats, roles, visibility(seq, step_frames(seq, feats.step_seconds), pictures), pictures)
