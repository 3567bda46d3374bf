"""Generic infrastructure shared by every feature: nothing here knows about streams."""
