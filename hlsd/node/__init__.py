"""The worker processes of one node (`hlsd serve --workers N`) serving live streams as
one: every worker holds every live stream (`ops`, `mirror`, `siblings`), one of them
leads (`role`) and takes what must happen once (`forward`)."""

from hlsd.node.forward import ToLeader, for_leader
from hlsd.node.ops import ReplicatedProducer, Replication
from hlsd.node.role import NODE_DIR_ENV, NodeRole, node_role
from hlsd.node.siblings import LeaderUnreachable, Siblings

__all__ = [
    "NODE_DIR_ENV",
    "LeaderUnreachable",
    "NodeRole",
    "ReplicatedProducer",
    "Replication",
    "Siblings",
    "ToLeader",
    "for_leader",
    "node_role",
]
