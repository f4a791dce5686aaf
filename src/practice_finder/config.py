"""Settings: one frozen dataclass, read from `PF_*` environment variables and CLI options, passed in explicitly."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from practice_finder.errors import PracticeFinderError

DEFAULT_MODEL = "multilingual-e5-small"  # why: README, "Choosing the embedding model"
ENGLISH_MODEL = "all-MiniLM-L6-v2"
DIGEST = re.compile(r"sha256:[0-9a-fA-F]{64}")  # the configured form of a key


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Build with `Settings.from_env()` and override with `replace`."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("indexes")
    dictionaries_dir: Path = Path("/usr/share/dictd")  # FreeDict files read at ingest, if there
    model: str = DEFAULT_MODEL
    batch_size: int = 32
    keep_builds: int = 3
    threads: int = 0  # torch and ONNX Runtime threads per process (0: the library decides)
    rrf_k: int = 60
    candidates: int = 200  # depth of each retrieval leg before fusion
    fusion: str = "scores"  # how a search fuses its legs: scores (scaled, weighed) | ranks (RRF)
    # share of its language's offset added to a question's vector (build/offsets.py); 0 leaves it as encoded
    language_offset: float = 0.25
    # share of the language's linear map towards English added to a question's vector (build/offsets.py):
    # auto (the model's measured share: 0.5 for multilingual-e5-small, 0 for all-MiniLM-L6-v2) or a number
    # from 0 to 1
    language_map: str = "auto"
    # share of the direction all questions share taken off a question's vector: auto (the model's measured
    # share: 0.5 for multilingual-e5-small, 0 for all-MiniLM-L6-v2) or a number from 0 to 1
    question_centring: str = "auto"
    progress: bool = True
    # auto (the export's measured choice) | onnx-int8 | onnx (ONNX Runtime, exported at ingest)
    # | torch (the model's own library)
    query_encoder: str = "auto"
    host: str = "127.0.0.1"
    port: int = 8000
    # Writes from the portal and the background re-index (docs/reliability.md#the-write-path).
    # writes.db (every accepted write, SQLite WAL) and the last re-index; never in indexes/
    state_dir: Path = Path("state")
    auto_reindex: bool = True  # re-index in the background when writes are pending
    reindex_delay: int = 2  # seconds without new writes before a background re-index starts (a burst makes one build)
    reindex_runner: str = (
        "subprocess"  # subprocess (own process: no GIL or memory shared with requests) | thread
    )
    watch_interval: int = 1  # seconds between checks for a new build or pending writes
    # Keys and limits. Keys are kept only as SHA-256 digests: PF_ADMIN_KEYS="sha256:<hex>,..." (or plain keys,
    # hashed on reading); `practice-finder key` makes a new key and its digest.
    admin_keys: tuple[str, ...] = ()
    read_keys: tuple[str, ...] = ()
    # off: reading is public; on: every route that shows data (the API, the pages, /ready's manifest, /schema)
    # needs a read or admin key
    require_read_key: bool = False
    # on: /metrics needs a read or admin key (its own switch: a scraper's key, independent of require_read_key)
    require_metrics_key: bool = False
    rate_limit: int = 600  # requests per minute per client (key, else address); 0 turns it off
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks); none: no one's
    trusted_proxies: tuple[str, ...] = ()
    # Connections (docs/reliability.md#connections-and-proxies): seconds a request line and headers may take,
    # their largest size, seconds an idle keep-alive connection stays open, connections and requests one
    # worker holds before answering 503 (0: no limit)
    header_timeout: int = 10
    max_header_bytes: int = 16_384
    timeout_keep_alive: int = 5
    limit_concurrency: int = 512
    # every started this many bytes of a request body count as one more request (0: every request counts one)
    rate_limit_body_bytes: int = 2_048
    max_body_bytes: int = 262_144
    max_query_string: int = 4_096  # characters in the query string of one request
    # Heavy work: a town described in free text (docs/reliability.md#heavy-requests-beside-searches)
    profile_embed_chars: int = (
        3_000  # characters of such a text that are embedded (all are read for terms)
    )
    heavy_requests: int = 1  # such requests served at once per process
    heavy_queue: int = 8  # such requests waiting for a turn; beyond, a 503 with Retry-After
    # questions whose vectors a process keeps: the same question again (its next page, a filter, a sort)
    # is not encoded again; 0 keeps none
    question_vectors_kept: int = 1_024
    cors_origins: tuple[
        str, ...
    ] = ()  # origins allowed to call the API from a browser; none: no CORS headers
    log_format: str = "json"  # json | text
    extra: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `PF_<FIELD>` variables (e.g. PF_INDEX_DIR), then apply non-None overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"PF_{f.name.upper()}")
            if raw is not None and f.name != "extra":
                values[f.name] = _coerce(f.name, raw, cls.__dataclass_fields__[f.name].default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The settings as `PF_*` variables, for a child process (an ingest run by the server); keys left out."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or f.name.endswith("_keys"):
                continue
            if isinstance(value, Path):
                value = value.resolve()
            out[f"PF_{f.name.upper()}"] = (
                ",".join(value) if isinstance(value, tuple) else str(value)
            )
        return out

    def child_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The environment of a child process (the ingest a server runs): `environ` without any `PF_*`
        variable (so no key, plain or digest, is inherited), then these settings (`to_env`: keys left out)."""
        inherited = {k: v for k, v in environ.items() if not k.startswith("PF_")}
        return {**inherited, **self.to_env()}

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(name: str, raw: str, default: Any) -> Any:
    """Turn an environment string into the type of the field's default."""
    try:
        if name.endswith("_keys"):
            return tuple(configured_digest(k) for k in raw.split(",") if k.strip())
        if isinstance(default, tuple):
            return tuple(v.strip() for v in raw.split(",") if v.strip())
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        return raw
    except ValueError as exc:
        raise PracticeFinderError(
            f"environment variable PF_{name.upper()}={raw!r} is not valid",
            f"expected {type(default).__name__}",
        ) from exc


def key_digest(key: str) -> str:
    """The digest of a key, `sha256:<hex>`: always a hash of what is given, so a presented string that looks
    like a digest is hashed like any other (holding a digest grants nothing).

    Keys are long random strings (`practice-finder key`), so a fast hash is enough: there is nothing to guess.
    """
    return "sha256:" + hashlib.sha256(key.strip().encode("utf-8")).hexdigest()


def configured_digest(entry: str) -> str:
    """A key as configured (PF_ADMIN_KEYS and the like): a `sha256:<hex>` digest kept as it is, a plain key
    hashed. Only settings pass through here, never a key a client presents."""
    entry = entry.strip()
    if DIGEST.fullmatch(entry):
        return entry.lower()
    return key_digest(entry)
