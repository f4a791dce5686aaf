"""Settings: one frozen dataclass, read from `PF_*` environment variables and CLI options, passed in explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import PracticeFinderError

DEFAULT_MODEL = "multilingual-e5-small"  # why: README, "Choosing the embedding model"
ENGLISH_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Build with `Settings.from_env()` and override with `replace`."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("indexes")
    model: str = DEFAULT_MODEL
    batch_size: int = 32
    keep_builds: int = 3
    threads: int = 0  # torch and ONNX Runtime threads per process (0: the library decides)
    rrf_k: int = 60
    candidates: int = 200  # depth of each retrieval leg before fusion
    progress: bool = True
    query_encoder: str = "onnx-int8"  # onnx-int8 | onnx (ONNX Runtime, exported at ingest) | torch (sentence-transformers)
    host: str = "127.0.0.1"
    port: int = 8000
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

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(name: str, raw: str, default: Any) -> Any:
    """Turn an environment string into the type of the field's default."""
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, Path):
            return Path(raw)
        return raw
    except ValueError as exc:
        raise PracticeFinderError(
            f"environment variable PF_{name.upper()}={raw!r} is not valid", f"expected {type(default).__name__}"
        ) from exc
