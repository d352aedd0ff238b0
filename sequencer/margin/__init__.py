"""The sequencer operator's margin coordinator (docs/margin.md): it learns each conditional leg's
outcome from the rollups' execution and submits the signed commit or abort as one bundle.

`decide` is the pure rule; `coordinator.Coordinator` the async shell that reads the engines and
talks to the sequencer's gRPC API.
"""

from .decide import BundleState, Decision, LegRecord, decide

__all__ = ["BundleState", "Decision", "LegRecord", "decide"]
