"""The operator console's services (no HTTP here: `api/console_events.py` serves them):
the overview's snapshot and its followers (`overview`), and live thumbnails
(`thumbnails`)."""

from hlsd.console.overview import Follower, Overview, TooManyFollowers
from hlsd.console.thumbnails import NoThumbnail, Thumbnails

__all__ = ["Follower", "NoThumbnail", "Overview", "Thumbnails", "TooManyFollowers"]
