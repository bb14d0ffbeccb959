"""`transpose-live batch`: many videos and images through the pose pipeline, on a local pool of
worker processes or on a Ray cluster, resumable through a manifest, outputs renamed into place
only when complete.

    >>> from transpose_live.batch import expand_inputs, run_batch
    >>> report = run_batch(expand_inputs(["archive/"]), "poses/", options, workers=2)
"""

from transpose_live.batch.driver import run_batch
from transpose_live.batch.inputs import InputFile, expand_inputs
from transpose_live.batch.jobs import options_hash
from transpose_live.batch.summary import BatchReport

__all__ = ["BatchReport", "InputFile", "expand_inputs", "options_hash", "run_batch"]
