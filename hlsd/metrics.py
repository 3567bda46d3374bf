"""Prometheus metrics: one registry per app, no module-level state.

Counters and histograms are updated by the services they are handed to; cache figures
are read at scrape time from every cache registered with `Metrics.caches` (the app's one
`Caches`: in memory, on disk, and the disk budgets).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hlsd.infra.cache import Caches


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.caches = Caches()
        """Every cache of the app: made (`new`) or registered (`add`, `budget`) here."""
        self.registry.register(_CacheCollector(self.caches))
        self.tokens_issued = Counter(
            "hlsd_tokens_issued_total", "Stream tokens issued", ["api"], registry=self.registry)
        self.auth_failures = Counter(
            "hlsd_auth_failures_total", "Requests refused for credentials", ["reason"],
            registry=self.registry)
        self.segments_built = Counter(
            "hlsd_vod_segments_built_total", "On-demand segments built", ["mode"],
            registry=self.registry)
        self.segment_build_seconds = Histogram(
            "hlsd_vod_segment_build_seconds", "Time to build one on-demand segment",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry)
        self.recorded_segments = Counter(
            "hlsd_recording_segments_total", "Segments stored by recordings",
            registry=self.registry)
        self.recording_losses = Counter(
            "hlsd_recording_lost_segments_total",
            "Segments a recording could not store: gone from the hub before their turn "
            "(expired), refused by the object store (store), or another failure (error); "
            "those its reader dropped are in hlsd_reader_dropped_total", ["reason"],
            registry=self.registry)
        self.reader_drops = Counter(
            "hlsd_reader_dropped_total",
            "Items a bounded reader dropped because its consumer fell behind (the "
            "producer never waits): segments for websocket spectators, relays to other "
            "nodes and recordings; stream events for the announcer, the auto-recorder "
            "and the recorder", ["consumer"], registry=self.registry)
        self.live_lost = Counter(
            "hlsd_live_lost_segments_total",
            "Pushed segments the live stream went on without: named by a playlist but not "
            "uploaded in time (not_uploaded), uploaded but its init section never came "
            "(no_init), acknowledged but never named by a playlist (not_named), "
            "acknowledged but the stream had ended (ended)", ["reason"],
            registry=self.registry)
        self.live_refused = Counter(
            "hlsd_live_refused_uploads_total",
            "Segment uploads refused instead of acknowledged: pending bytes at their bound "
            "(pending_full), or the segment already given up (given_up)", ["reason"],
            registry=self.registry)
        self.live_reordered = Counter(
            "hlsd_live_reordered_segments_total",
            "Segments a playlist named before their upload was whole (then awaited)",
            registry=self.registry)
        self.ingest_publishers = Gauge(
            "hlsd_ingest_publishers", "Encoders publishing now over RTMP, SRT or one "
            "continuous HTTP upload, by protocol", ["protocol"], registry=self.registry)
        self.ingest_bytes = Counter(
            "hlsd_ingest_bytes_total", "Bytes taken from encoders publishing over RTMP, "
            "SRT or continuous HTTP, by protocol", ["protocol"], registry=self.registry)
        self.ingest_refused = Counter(
            "hlsd_ingest_refused_total", "Encoders refused: a missing or wrong key "
            "(unauthorized), a bad stream id (bad_name), a stream another publishes "
            "(busy), this node or key at its bound (full), media hlsd cannot segment "
            "(media), by protocol", ["protocol", "reason"], registry=self.registry)
        self.ingest_dropped_parts = Counter(
            "hlsd_ingest_dropped_parts_total", "Parts cut from an encoder's stream that "
            "its playlist could not take (a gap in the encoder's timestamps made one too "
            "short or too long): the stream resumes at the next keyframe, after a "
            "discontinuity", ["protocol"], registry=self.registry)
        self.recording_retries = Counter(
            "hlsd_recording_store_retries_total", "Object store writes tried again",
            registry=self.registry)

        self.backend_up = Gauge(
            "hlsd_backend_up", "1 while a backend (database, object store, Redis) answers",
            ["backend"], registry=self.registry)
        self.ws_connections = Gauge(
            "hlsd_ws_connections", "Websocket CDN connections by mode", ["mode"],
            registry=self.registry)
        self.ws_fragments = Counter(
            "hlsd_ws_fragments_total", "Fragments received from publishers (in) and sent "
            "to spectators (out)", ["direction"], registry=self.registry)
        self.ws_slow_disconnects = Counter(
            "hlsd_ws_slow_disconnects_total",
            "Spectators disconnected for falling behind", registry=self.registry)
        self.ws_write_timeouts = Counter(
            "hlsd_ws_write_timeouts_total", "Connections closed when a send passed its "
            "deadline", registry=self.registry)
        self.relay_reconnects = Counter(
            "hlsd_relay_reconnects_total", "Relay connections to another node that failed "
            "and were tried again", registry=self.registry)
        self.edge_links = Gauge(
            "hlsd_edge_links", "Edges linked to this control node (/v1/edge)",
            registry=self.registry)
        self.edge_segments = Counter(
            "hlsd_edge_segments_total", "Segments edges sent (received), and those made "
            "durable and acknowledged (acked)", ["state"], registry=self.registry)
        self.edge_link_up = Gauge(
            "hlsd_edge_link_up", "This edge's link to its control (hlsd edge): 1 while "
            "connected, else 0", registry=self.registry)
        self.edge_live_dropped = Counter(
            "hlsd_edge_live_dropped_total", "Live segments this edge left out of its link "
            "(its live queue was full: the oldest go; recordings still get them from the "
            "cache)", registry=self.registry)
        self.ws_refused = Counter(
            "hlsd_ws_errors_total", "Websocket sessions ended by an error, by code",
            ["code"], registry=self.registry)

    def reader_dropped(self, consumer: str, count: int) -> None:
        """`StreamHub`'s drop counter: `count` items a reader of `consumer` kind lost."""
        self.reader_drops.labels(consumer).inc(count)

    def watch_asset_progress(self, progress: Mapping[str, float]) -> None:
        """`progress`: the running asset jobs of this process, by asset id."""
        self.registry.register(_ProgressCollector(progress))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ProgressCollector(Collector):
    def __init__(self, progress: Mapping[str, float]) -> None:
        self._progress = progress

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("hlsd_asset_progress_ratio",
                                  "Progress of each asset being processed here (0 to 1)",
                                  labels=["asset"])
        for asset_id, fraction in list(self._progress.items()):
            gauge.add_metric([asset_id], fraction)
        yield gauge


class _CacheCollector(Collector):
    def __init__(self, caches: Caches) -> None:
        self._caches = caches

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily("hlsd_cache_bytes", "Bytes held by a cache", labels=["cache"])
        limit = GaugeMetricFamily("hlsd_cache_limit_bytes", "Byte bound of a cache",
                                  labels=["cache"])
        entries = GaugeMetricFamily("hlsd_cache_entries", "Entries held by a cache",
                                    labels=["cache"])
        entry_limit = GaugeMetricFamily("hlsd_cache_limit_entries", "Entry bound of a cache",
                                        labels=["cache"])
        evictions = CounterMetricFamily("hlsd_cache_evictions", "Entries evicted",
                                        labels=["cache"])
        for cache in self._caches:
            size.add_metric([cache.name], cache.bytes)
            limit.add_metric([cache.name], cache.max_bytes)
            entries.add_metric([cache.name], len(cache))
            entry_limit.add_metric([cache.name], cache.max_entries)
            evictions.add_metric([cache.name], cache.evictions)
        for budget in self._caches.budgets:
            size.add_metric([budget.name], budget.used)
            limit.add_metric([budget.name], budget.limit)
        yield from (size, limit, entries, entry_limit, evictions)
