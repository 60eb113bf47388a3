"""Proactive delivery throughput in scaled mode: N due nudges for N contacts delivered by RQ
workers to a fake Telegram on loopback, against the naive way (one RQ job per message: the same
code with a batch size of 1) measured in the same run.

    python benchmarks/delivery_throughput.py [--count 100000] [--workers 2] [--naive 2000]

Needs PostgreSQL (COACHBOT_BENCH_PG, default postgresql://postgres@127.0.0.1:5432/postgres) and
the redis-server binary; creates and drops its own database and runs its own Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_stack import proc_cpu  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdefghij"  # noqa: S105 (a throwaway benchmark key)
TOKEN = "123:BENCH"  # noqa: S105 (the fake provider's token)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


SERIES = "generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) i"
CREATOR_SQL = """
INSERT INTO creators (slug, name, email, bot_name, persona, greeting, timezone, locale,
    quiet_hours_start, quiet_hours_end, daily_proactive_cap, created_at, updated_at)
VALUES ('bench', 'Bench', 'b@x.io', 'Bench bot', '', '', 'UTC', 'en', '00:00', '00:00', 1000,
    now(), now())
RETURNING id"""
BINDING_SQL = """
INSERT INTO channel_bindings (creator_id, channel, name, public_key, config, secrets, enabled,
    created_at)
VALUES (:c, 'telegram', 'bench', 'benchkey', '{"bot_id": 123, "username": "bench_bot"}', :s,
    true, now())"""
# One contact per nudge, each with an identity, a conversation, a message and an outbox row.
SEED_SQL = [
    f"""INSERT INTO contacts (id, creator_id, first_name, timezone, created_at, last_seen_at)
        SELECT i, :c, 'P' || i, 'UTC', now(), now() FROM {SERIES}""",
    f"""INSERT INTO channel_identities (id, contact_id, binding_id, channel, external_user_id,
            created_at, last_inbound_at)
        SELECT i, i, :b, 'telegram', i::text, now(), now() - interval '1 hour' FROM {SERIES}""",
    f"""INSERT INTO conversations (id, creator_id, contact_id, status, started_at, handoff_active)
        SELECT i, :c, i, 'open', now(), false FROM {SERIES}""",
    f"""INSERT INTO messages (id, conversation_id, contact_id, direction, channel, binding_id,
            text, payload, route, status, created_at)
        SELECT i, i, i, 'out', 'telegram', :b, 'Time for your evening walk, P' || i || '!', '{{}}',
            'nudge', 'pending', now() FROM {SERIES}""",
    f"""INSERT INTO outbox (key, kind, creator_id, contact_id, message_id, binding_id, identity_id,
            state, attempts, ambiguous, next_attempt_at, provider_message_ids, created_at)
        SELECT :k || i, 'nudge', :c, i, i, :b, i, 'pending', 0, false, now(), '[]', now()
        FROM {SERIES}""",
]


async def seed(
    url: str, count: int, key_prefix: str, first_contact: int, vacuum: bool = True
) -> None:
    """Contacts, identities, conversations, messages and pending outbox rows, in bulk SQL."""
    from engine.db import Database
    from engine.secrets import SecretBox

    db = Database(url)
    try:
        async with db.transaction() as s:
            creator = await s.scalar(text("SELECT id FROM creators WHERE slug = 'bench'"))
            if creator is None:
                creator = await s.scalar(text(CREATOR_SQL))
                sealed = SecretBox(SECRET).seal({"token": TOKEN, "webhook_secret": "s"})
                await s.execute(text(BINDING_SQL), {"c": creator, "s": sealed})
            binding = await s.scalar(
                text("SELECT id FROM channel_bindings WHERE public_key = 'benchkey'")
            )
            params = {
                "c": creator,
                "b": binding,
                "lo": first_contact,
                "hi": first_contact + count - 1,
                "k": key_prefix,
            }
            for statement in SEED_SQL:
                await s.execute(text(statement), params)
        if not vacuum:  # like a broadcast: rows made a moment ago, autovacuum still to come
            return
        # Nudges made during the day: their tables were analyzed and vacuumed before the
        # morning they fall due (without this, autovacuum works through them during the run).
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))
    finally:
        await db.dispose()


async def count_sent(url: str, key_prefix: str) -> tuple[int, int]:
    from engine.db import Database

    db = Database(url)
    try:
        async with db.sessions() as s:
            row = (
                await s.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FROM outbox"
                        " WHERE key LIKE :k"
                    ),
                    {"k": key_prefix + "%"},
                )
            ).one()
            return int(row[0]), int(row[1])
    finally:
        await db.dispose()


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def run_delivery(
    url: str,
    redis_url: str,
    telegram_url: str,
    key_prefix: str,
    workers: int,
    batch: int,
    limit_seconds: float,
    log_dir: Path,
    fork: bool = False,
    progress: bool = False,
) -> tuple[int, float]:
    """Start a scheduler and `workers` RQ workers (ours, or RQ's forking Worker with `fork`);
    return (sent, seconds) when all are sent or the time limit passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOT_")}
    env.update(
        COACHBOT_DATABASE_URL=url,
        COACHBOT_REDIS_URL=redis_url,
        COACHBOT_SECRET_KEY=SECRET,
        COACHBOT_TELEGRAM_API_URL=telegram_url,
        COACHBOT_JOB_BATCH_SIZE=str(batch),
        COACHBOT_SEND_RATE_SCALE="100000",
        COACHBOT_SCHEDULER_INTERVAL="0.2",
        COACHBOT_DELIVERY_CONCURRENCY="64",
        COACHBOT_LOG_LEVEL="WARNING",
        COACHBOT_AUTO_MIGRATE="false",
        COACHBOT_DATA_DIR=str(log_dir),
    )
    procs = []
    started = time.perf_counter()
    for name, args in [("scheduler", ["scheduler"])] + [
        (f"worker{i}", ["worker", "--fork"] if fork else ["worker"]) for i in range(workers)
    ]:
        with (log_dir / f"{key_prefix}{name}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "config.cli", *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    start_new_session=True,
                )
            )
    names = ["scheduler"] + [f"worker{i}" for i in range(workers)]
    machine = machine_busy()
    try:
        total = None
        last_report, last_sent = started, 0
        while time.perf_counter() - started < limit_seconds:
            sent, total = asyncio.run(count_sent(url, key_prefix))
            if sent == total:
                break
            now = time.perf_counter()
            if progress and now - last_report >= 10:
                rate = (sent - last_sent) / (now - last_report)
                print(f"  {now - started:5.0f} s: {sent:>7} sent, {rate:,.0f} msg/s lately")
                last_report, last_sent = now, sent
            time.sleep(0.5)
        sent, _ = asyncio.run(count_sent(url, key_prefix))
        elapsed = time.perf_counter() - started
        if progress:
            busy, all_cpu = (a - b for a, b in zip(machine_busy(), machine, strict=True))
            ours = {name: proc_cpu(p.pid) for name, p in zip(names, procs, strict=True)}
            per_message = ", ".join(
                f"{name} {seconds * 1000 / max(sent, 1):.2f}" for name, seconds in ours.items()
            )
            rest = busy - sum(ours.values())
            print(
                f"  CPU ms per message: {per_message}, everything else (PostgreSQL, Redis, the "
                f"fake, this script) {rest * 1000 / max(sent, 1):.2f}; machine busy "
                f"{busy / all_cpu:.0%}"
            )
        return sent, elapsed
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive", type=int, default=2000, help="messages for the naive baseline")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="deliver right after seeding, before VACUUM ANALYZE (like a broadcast to everyone)",
    )
    args = parser.parse_args()
    from alembic import command

    from config.wiring import alembic_config
    from tests import dbs

    admin = os.environ.get("COACHBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = dbs.create_pg_database(admin, prefix="coachbot_bench")
    redis_port, tg_port = free_port(), free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="coachbot-bench-"))
    redis = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(redis_port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks/fake_telegram_fast.py"), str(tg_port)]
    )
    try:
        wait_port(redis_port)
        wait_port(tg_port)
        command.upgrade(alembic_config(url), "head")
        redis_url, tg_url = f"redis://127.0.0.1:{redis_port}/0", f"http://127.0.0.1:{tg_port}"
        asyncio.run(seed(url, args.count, "ours:", 1, vacuum=not args.fresh))
        sent, seconds = run_delivery(
            url, redis_url, tg_url, "ours:", args.workers, args.batch, 600, log_dir, progress=True
        )
        ours = sent / seconds
        print(
            f"batched jobs ({args.batch}/job, {args.workers} workers): {sent}/{args.count} sent "
            f"in {seconds:.1f} s = {ours:,.0f} msg/s"
        )
        asyncio.run(seed(url, args.naive, "naive:", args.count + 1))
        sent, seconds = run_delivery(
            url, redis_url, tg_url, "naive:", args.workers, 1, 300, log_dir, fork=True
        )
        naive = sent / seconds
        print(
            f"naive (1 RQ job per message, RQ's forking Worker, {args.workers} workers): "
            f"{sent}/{args.naive} sent "
            f"in {seconds:.1f} s = {naive:,.0f} msg/s"
        )
        print(f"ratio: {ours / naive:.1f}x the naive approach")
        with urllib.request.urlopen(f"{tg_url}/stats", timeout=5) as response:  # noqa: S310
            print(f"fake provider received {response.read().decode()}")
    finally:
        fake.terminate()
        redis.terminate()
        dbs.drop_pg_database(admin, url)
        print(f"logs: {log_dir}")


if __name__ == "__main__":
    main()
