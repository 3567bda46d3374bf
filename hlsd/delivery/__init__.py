"""Playback: the one responder every playback path answers through.

`Playback` (the app in front of the framework) hands a GET or HEAD under a mounted
prefix to that surface's resolver, which finds what to serve through a service and
returns a `Resource` (bytes or a file, its media type, caching and ETag), a `Redirect`,
or raises `Refused`. The `Responder` applies what every surface shares: Cache-Control
(public, or private once a `TokenGate` admitted the request), ETag/304, one byte range
(206/416), HEAD, a query token carried into playlists, and the errors' ``{"error"}``
JSON. `Cors` is the whole app's CORS. No media logic and no database queries here.

Resolvers: `hls` (``/hls/``), `live` (``/live/``, ``/v1/vod/live/``), `assets`
(``/vod/``, ``/play/``), `recordings` (``/recordings/``, ``/v1/vod/recording/``).
"""

from hlsd.delivery.cors import Cors
from hlsd.delivery.gate import TokenGate
from hlsd.delivery.playback import Mount, Playback, Resolver
from hlsd.delivery.request import Request
from hlsd.delivery.resource import Caching, FileBody, Redirect, Refused, Resource

__all__ = ["Caching", "Cors", "FileBody", "Mount", "Playback", "Redirect", "Refused",
           "Request", "Resolver", "Resource", "TokenGate"]
