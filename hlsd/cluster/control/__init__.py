"""The control's end of the edge ↔ control link (``docs/EDGE.md``): edges dial in at
``/v1/edge``; their live segments join the hub, their recorded ones the recorder, and
they are told what changes of the sources they hold."""

from hlsd.cluster.control._control import EdgeControl
from hlsd.cluster.control._keys import EdgeKeys
from hlsd.cluster.control._session import Services

__all__ = ["EdgeControl", "EdgeKeys", "Services"]
