"""Person tracking and temporal smoothing of keypoints (`--smooth one-euro|kalman|none`)."""

from transpose_live.tracking.kalman import KeypointKalman
from transpose_live.tracking.one_euro import OneEuroFilter
from transpose_live.tracking.pose_tracker import ASSOCIATORS, SMOOTHERS, PoseTracker
from transpose_live.tracking.association import ByteTrackAssociator, KeypointMatcher, box_iou, pose_oks

__all__ = ["ASSOCIATORS", "SMOOTHERS", "ByteTrackAssociator", "KeypointKalman", "KeypointMatcher", "OneEuroFilter",
           "PoseTracker", "box_iou", "pose_oks"]
