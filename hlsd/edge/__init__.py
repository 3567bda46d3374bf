"""An edge node (LiveMix's edge → control topology, ``docs/EDGE.md``): it takes live
video in its LAN, keeps recent segments in a bounded cache on disk, and holds one
outbound websocket to its control, which it sends live segments (while a source
streams) and recordings' segments (from the cache, then new ones) until the control
acknowledges them. The control never connects to the edge.

The surface: `EdgeService` (built by ``features/edge.py``), its `LinkConfig`, the link's
`LinkState`, and the cache's and the book's types for tests and tools.
"""

from hlsd.edge._cache import CachedSegment, SegmentCache
from hlsd.edge._link import BACKOFF, STABLE_AFTER, LinkConfig, LinkState
from hlsd.edge._recordings import EdgeRecording, RecordingBook
from hlsd.edge._service import EdgeService

__all__ = ["BACKOFF", "STABLE_AFTER", "CachedSegment", "EdgeRecording", "EdgeService",
           "LinkConfig", "LinkState", "RecordingBook", "SegmentCache"]
