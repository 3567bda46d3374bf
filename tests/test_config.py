from pathlib import Path

import pytest
from pydantic import ValidationError

from hlsd.config import ServerEngine, load_settings

# The seed's hls.yaml, exactly as that project ships it.
SEED_HLS_YAML = """\
cache:
  dir: "/root/cache"
  size: "100MB"
  limit: 100
  tempdir: "/root/temp"
  static: "/root/static"
  expiry: "1m30s"
  killsize:
    enabled: true
    tempdir: "200MB"
    static: "512MB"

handshake: "I-AM-A-SECRET-KEY"

port: 5000

url:
  audio: http://localhost:5000/audio/audio/
  vtt: http://localhost:5000/audio/vtt
"""

# The older layout from the seed's README: a bare expiry in minutes.
SEED_README_YAML = """\
cache:
  dir: "/root/cache" # Cache Directory
  size: "100MB" # Size limit for media cache
  limit: 100 # Limit on number of files in media cache
  tempdir: "/root/temp" # Temporary directory for medial transcoding
  static: "/root/static" # Directory for storing HLS Streams
  expiry: 2 # Expiration time for generated tokens and HLS Streams

handshake: "I-AM-A-SECRET-KEY" # Secret Key to generate tokens

url:
  audio: http://localhost:5000/audio
  vtt: http://localhost:5000/vtt
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hls.yaml"
    path.write_text(text)
    return path


def test_seed_hls_yaml_is_accepted_unchanged(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HLSD_CACHE__SIZE", raising=False)
    s = load_settings(_write(tmp_path, SEED_HLS_YAML))
    assert s.port == 5000
    assert s.handshake is not None and s.handshake.get_secret_value() == "I-AM-A-SECRET-KEY"
    assert s.cache.size == 100_000_000 and s.cache.limit == 100
    assert s.cache.expiry == 90.0
    assert s.cache_dir == Path("/root/cache") and s.static_dir == Path("/root/static")
    assert s.cache.killsize.enabled and s.cache.killsize.tempdir == 200_000_000
    assert s.cache.killsize.static == 512_000_000
    assert s.url.media_prefix == "http://localhost:5000/audio/audio/"
    assert s.url.vtt == "http://localhost:5000/audio/vtt"


def test_seed_readme_layout_reads_bare_expiry_as_minutes(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, SEED_README_YAML))
    assert s.cache.expiry == 120.0


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HLSD_CACHE__SIZE", "2GB")
    monkeypatch.setenv("HLSD_PORT", "6000")
    monkeypatch.setenv("HLSD_URL__VIDEO", "http://upstream/v")
    s = load_settings(_write(tmp_path, SEED_HLS_YAML))
    assert s.cache.size == 2_000_000_000
    assert s.port == 6000
    # url.video wins over url.audio as the media prefix
    assert s.url.media_prefix == "http://upstream/v"


def test_cli_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HLSD_PORT", "6000")
    assert load_settings(None, port=7000, host=None).port == 7000


def test_embedded_defaults_need_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.host == "127.0.0.1"  # loopback until the operator says otherwise
    assert s.data_dir == Path("hlsd-data")
    assert s.cache_dir == Path("hlsd-data/cache")
    assert s.server is ServerEngine.GRANIAN
    assert s.handshake is None and s.admin_key is None


def test_relative_dirs_resolve_against_the_config_file(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, "data_dir: data\ncache:\n  dir: c\nstorage:\n  dir: o\n"))
    assert s.storage.dir == tmp_path / "o"
    assert load_settings().storage.dir == Path("hlsd-data/objects")
    assert s.data_dir == tmp_path / "data"
    assert s.cache_dir == tmp_path / "c"
    assert s.temp_dir == tmp_path / "data" / "tmp"


def test_tls_files_resolve_against_the_config_file_and_merge_across_sources(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HLSD_TLS__CERT", raising=False)
    monkeypatch.delenv("HLSD_TLS__KEY", raising=False)
    config = _write(tmp_path, "tls:\n  cert: pem/cert.pem\n  key: /etc/key.pem\n")
    tls = load_settings(config).tls
    assert (tls.cert, tls.key, tls.http2, tls.enabled) == (
        tmp_path / "pem" / "cert.pem", Path("/etc/key.pem"), True, True)
    # A flag (or a variable) for one file keeps the other from the file.
    assert load_settings(config, tls={"key": Path("k.pem")}).tls.cert == \
        tmp_path / "pem" / "cert.pem"
    monkeypatch.setenv("HLSD_TLS__CERT", "/run/cert.pem")
    assert load_settings(config).tls.cert == Path("/run/cert.pem")
    monkeypatch.delenv("HLSD_TLS__CERT")
    assert not load_settings().tls.enabled


@pytest.mark.parametrize("text", [
    "cache:\n  size: lots\n", "cache:\n  expiry: soon\n", "nonsense_key: 1\n", "- a\n- b\n",
])
def test_bad_config_is_rejected_with_a_reason(tmp_path: Path, text: str) -> None:
    with pytest.raises((ValidationError, ValueError)):
        load_settings(_write(tmp_path, text))


def test_hls_websocket_cdn_variables_are_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PUSH_SECRET": "push", "PULL_SECRET": "pull", "WEBSOCKET_PREFIX": "/cdn",
        "FRAGMENT_BUFFER_MAX_LENGTH": "20", "MAX_BINARY_MESSAGE_SIZE": "1048576",
        "PUB_REG_REDIS_ENABLED": "YES", "PUB_REG_REDIS_HOST": "redis.local",
        "PUB_REG_REDIS_PORT": "6380", "PUB_REG_REDIS_PASSWORD": "p@ss",
        "PUB_REG_REDIS_USE_TLS": "true", "PUB_REG_REFRESH_INTERVAL_SECONDS": "10",
        "EXTERNAL_WEBSOCKET_URL": "wss://node-1.example/cdn", "RELAY_FROM_ENABLED": "YES",
        "RELAY_FROM_URL": "ws://origin:80/", "RELAY_INACTIVITY_PERIOD_SEC": "5",
        "RATE_LIMIT_ENABLED": "YES", "RATE_LIMIT_CONNECTIONS": "4",
        "RATE_LIMIT_REQ_PER_SEC": "2", "RATE_LIMIT_REQ_BURST": "8",
        "RATE_LIMIT_WHITELIST": "127.0.0.1,10.0.0.0/8",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    ws, cluster = settings.websocket, settings.cluster
    assert ws.push_secret is not None and ws.push_secret.get_secret_value() == "push"
    assert ws.pull_secret is not None and ws.pull_secret.get_secret_value() == "pull"
    assert (ws.path, ws.fragment_buffer, ws.max_binary_message) == ("/cdn", 20, 1 << 20)
    assert (ws.max_connections_per_ip, ws.connects_per_second, ws.connect_burst) == (4, 2, 8)
    assert ws.rate_limit_exempt == ("127.0.0.1", "10.0.0.0/8")
    assert cluster.redis_url is not None
    assert cluster.redis_url.get_secret_value() == "rediss://:p%40ss@redis.local:6380/0"
    assert (cluster.refresh_interval, cluster.relay_inactivity) == (10.0, 5.0)
    assert cluster.external_url == "wss://node-1.example/cdn"
    assert cluster.relay_from == "ws://origin:80/"
    monkeypatch.setenv("HLSD_WEBSOCKET__FRAGMENT_BUFFER", "7")  # hlsd's own key wins
    monkeypatch.setenv("RELAY_FROM_ENABLED", "NO")
    again = load_settings()
    assert again.websocket.fragment_buffer == 7 and again.cluster.relay_from is None
