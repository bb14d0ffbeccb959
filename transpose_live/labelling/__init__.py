"""Teacher labelling: frames of videos / image folders -> COCO keypoint annotations from a pose model.

    >>> from transpose_live.labelling import label_sources
"""

from transpose_live.labelling.label import LabelOutcome, Selection, label_sources

__all__ = ["LabelOutcome", "Selection", "label_sources"]
