"""The fault run: scaled mode under traffic while processes die. Fifty coachees on Telegram and
WhatsApp go through the program over signed webhooks, spread over two `serve` processes by a
load balancer that re-sends a failed request to the other one (as Telegram and Twilio
re-deliver), and a hundred nudges are due at the same time. During the run one `serve` process
is killed with SIGKILL, then one worker in the middle of a delivery batch (and restarted), then
Redis is killed and restarted. When the system has settled, the database and the fake
providers must account for everything:

- every accepted inbound is stored once (one receipt, one message) and its turn finished;
- every reply and every outbox row ended sent, failed or skipped (with a reason): 0 lost;
- every message a provider accepted maps to a stored message, and a message that arrived more
  than once has its outbox row marked `ambiguous`: 0 unexplained duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from engine.db import Database
from engine.models import (
    ChannelIdentity,
    Contact,
    InboundReceipt,
    Message,
    Outbox,
    ScheduledWork,
)
from engine.outbox import enqueue
from engine.types import OutboundMessage
from tests.delivery.test_faults import OwnRedis
from tests.fakes.telegram import Failure
from tests.scale.cluster import QUESTION_TEXT, Cluster, Providers, Webhooks, World
from tests.scale.conftest import start_cluster

pytestmark = pytest.mark.slow

COACHEES = 50
ANSWERS = 5  # per coachee, after joining: 6 webhooks each, 300 in all
NUDGE_DELAY = 0.4  # the fake Bot API takes this long for a nudge: batches are in flight a while


def slow_nudges(method: str, params: dict[str, Any]) -> Failure | None:
    if method == "sendMessage" and str(params.get("text", "")).startswith("Nudge"):
        return Failure(0, "", delay=NUDGE_DELAY)  # delivered, slowly
    return None


@pytest.fixture(scope="module")
def providers() -> Iterator[Providers]:
    fakes = Providers(decide=slow_nudges)
    fakes.start()
    try:
        yield fakes
    finally:
        fakes.stop()


@pytest.fixture(scope="module")
def cluster(
    scale_database: str,
    redis_server: OwnRedis,
    chroma_url: str,
    providers: Providers,
    world: World,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    running = start_cluster(
        scale_database, redis_server, chroma_url, providers, tmp_path_factory.mktemp("faults")
    )
    try:
        asyncio.run(running.ready())
        yield running
    finally:
        running.stop()


@dataclass
class Coachee:
    index: int

    @property
    def telegram(self) -> bool:
        return self.index % 2 == 0

    @property
    def address(self) -> str:
        return str(700_000 + self.index) if self.telegram else f"whatsapp:+1555800{self.index:04d}"


@dataclass
class Chaos:
    """What was done to the processes, and when (seconds from the start)."""

    events: list[tuple[float, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def log(self, what: str) -> None:
        self.events.append((round(time.monotonic() - self.started, 1), what))


async def play(coachee: Coachee, hooks: Webhooks, providers: Providers) -> int:
    """Join, then answer each check-in question as it comes; stop if one does not come (the
    reply may still be on its way after a crash: the accounting checks it)."""

    def questions() -> int:
        return sum(QUESTION_TEXT in t for t in providers.texts(coachee.address))

    async def say(text: str) -> None:
        if coachee.telegram:
            await hooks.telegram(int(coachee.address), text)
        else:
            await hooks.whatsapp(coachee.address, text)

    await say("/join daily")
    sent = 1
    for answer in range(1, ANSWERS + 1):
        deadline = time.monotonic() + 20
        while questions() < answer:
            if time.monotonic() > deadline:
                return sent
            await asyncio.sleep(0.1)
        await say(str(answer))
        sent += 1
    return sent


async def add_nudges(url: str, addresses: list[str]) -> int:
    """Two nudges due now for each coachee who has written (an inactivity rule would add them
    the same way: through the outbox)."""
    db = Database(url)
    now = datetime.now(UTC)
    added = 0
    try:
        async with db.transaction() as session:
            rows = await session.execute(
                select(Contact, ChannelIdentity.external_user_id)
                .join(ChannelIdentity, ChannelIdentity.contact_id == Contact.id)
                .where(ChannelIdentity.external_user_id.in_(addresses))
            )
            for contact, address in rows:
                added += len(
                    await enqueue(
                        session,
                        key=f"fault-nudge:{address}",
                        kind="nudge",
                        contact=contact,
                        now=now,
                        messages=[
                            OutboundMessage(f"Nudge 1 for {address}"),
                            OutboundMessage(f"Nudge 2 for {address}"),
                        ],
                    )
                )
    finally:
        await db.dispose()
    return added


def worker_mid_job(cluster: Cluster) -> str | None:
    """A worker whose log shows a delivery job started and not finished."""
    for name in ("worker-1", "worker-2"):
        starts = cluster.processes.starts[name]
        log = cluster.directory / f"{name}-{starts}.log"
        if not log.exists():
            continue
        lines = log.read_text(errors="replace").splitlines()
        began = [i for i, line in enumerate(lines) if "coachbot: config.jobs.deliver(" in line]
        ended = [i for i, line in enumerate(lines) if "Successfully completed" in line]
        if began and (not ended or began[-1] > ended[-1]):
            return name
    return None


async def sending_rows(db: Database) -> int:
    async with db.sessions() as session:
        return (
            await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.state == "sending")
            )
        ) or 0


# Scheduled work due this soon counts as in flight: the program's 2 s wait after the last
# answers still sends a message, and settling before it falls due let the accounting catch
# that delivery mid-batch ("outbox sending").
SOON = timedelta(seconds=5)


async def unsettled(db: Database) -> Counter[str]:
    """What is still in flight: claimed receipts, outbox rows not at an end state, replies not
    sent, and due or claimed scheduled work."""
    now = datetime.now(UTC)
    async with db.sessions() as session:
        left: Counter[str] = Counter()
        left["claimed receipts"] = (
            await session.scalar(
                select(func.count())
                .select_from(InboundReceipt)
                .where(InboundReceipt.status == "claimed")
            )
        ) or 0
        for state, n in await session.execute(
            select(Outbox.state, func.count())
            .where(Outbox.state.not_in(("sent", "failed", "skipped")))
            .group_by(Outbox.state)
        ):
            left[f"outbox {state}"] = n
        left["pending replies"] = (
            await session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.direction == "out",
                    Message.status == "pending",
                    ~select(Outbox.id).where(Outbox.message_id == Message.id).exists(),
                )
            )
        ) or 0
        left["due work"] = (
            await session.scalar(
                select(func.count())
                .select_from(ScheduledWork)
                .where(
                    (ScheduledWork.state == "claimed")
                    | ((ScheduledWork.state == "pending") & (ScheduledWork.due_at <= now + SOON))
                )
            )
        ) or 0
    return +left


@dataclass
class Accounting:
    rows: list[tuple[str, int]] = field(default_factory=list)
    problems: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, what: str, n: int) -> None:
        self.rows.append((what, n))

    def problem(self, what: str, items: list[Any]) -> None:
        self.add(what, len(items))
        if items:
            self.problems[what] = items[:20]

    def table(self) -> str:
        width = max(len(what) for what, _ in self.rows)
        lines = [f"{'fault run accounting':<{width}}  count", "-" * (width + 7)]
        lines += [f"{what:<{width}}  {n:>5}" for what, n in self.rows]
        return "\n".join(lines)


async def account(url: str, world: World, hooks: Webhooks, providers: Providers) -> Accounting:
    report = Accounting()
    db = Database(url)
    try:
        async with db.sessions() as session:
            receipts = {
                (r.binding_id, r.external_message_id): r
                for r in await session.scalars(select(InboundReceipt))
            }
            inbound = Counter(
                (
                    await session.scalars(
                        select(Message.receipt_id).where(Message.direction == "in")
                    )
                ).all()
            )
            out = list(await session.scalars(select(Message).where(Message.direction == "out")))
            outbox = {o.message_id: o for o in await session.scalars(select(Outbox))}
            identities = {
                i.contact_id: i.external_user_id
                for i in await session.scalars(select(ChannelIdentity))
            }
    finally:
        await db.dispose()

    accepted = set(hooks.accepted)
    report.add("webhooks accepted (200)", len(accepted))
    report.add("  of which re-sent by the load balancer", hooks.retried)
    missing = [key for key in accepted if key not in receipts]
    report.problem("accepted but not stored", missing)
    unaccepted = [key for key in receipts if key not in accepted]
    report.problem("stored but never accepted", unaccepted)
    stored_twice = [r.id for r in receipts.values() if inbound[r.id] != 1]
    report.problem("receipts without exactly one message", stored_twice)
    unfinished = [(r.id, r.status, r.error) for r in receipts.values() if r.status != "processed"]
    report.problem("turns not finished", unfinished)

    replied_to = {m.reply_to_id for m in out if m.reply_to_id is not None}
    report.add("inbound messages answered", len(replied_to))

    def final(message: Message) -> str:
        row = outbox.get(message.id)
        if row is not None:
            return f"outbox {row.state}"
        return f"direct {message.status}"

    by_end = Counter(final(m) for m in out)
    for end, n in sorted(by_end.items()):
        report.add(f"outbound: {end}", n)
    lost = [
        (m.id, final(m))
        for m in out
        if final(m) not in ("outbox sent", "outbox failed", "outbox skipped")
        and final(m) not in ("direct sent", "direct failed")
    ]
    report.problem("outbound lost (not at an end state)", lost)
    no_reason = [
        (o.id, o.state)
        for o in outbox.values()
        if o.state in ("failed", "skipped") and not o.reason
    ]
    report.problem("outbox failed/skipped without a reason", no_reason)
    ambiguous = {o.message_id for o in outbox.values() if o.ambiguous}
    report.add("outbox rows marked ambiguous", len(ambiguous))
    replies = Counter(o.reason or "-" for o in outbox.values() if o.kind == "reply")
    report.add("replies recovered through the outbox", sum(replies.values()))

    # What the providers accepted, mapped back to stored messages: by the provider's id where we
    # recorded it, else (a send that may have left before a crash or a timeout) by recipient and
    # text, which must then be a message whose outbox row is marked ambiguous.
    by_provider_id: dict[str, Message] = {}
    for m in out:
        if m.provider_message_id:
            by_provider_id[m.provider_message_id] = m
        row = outbox.get(m.id)
        for pid in row.provider_message_ids if row is not None else []:
            by_provider_id[pid] = m
    by_text: defaultdict[tuple[str, str], list[Message]] = defaultdict(list)
    for m in out:
        by_text[(identities.get(m.contact_id, ""), m.text)].append(m)
    deliveries = providers.accepted()
    report.add("messages the providers accepted", len(deliveries))
    copies: Counter[int] = Counter()
    unrecorded, unmapped = 0, []
    seen_ids: set[str] = set()
    for recipient, provider_id, text in deliveries:
        seen_ids.add(provider_id)
        message = by_provider_id.get(provider_id)
        if message is None:
            unrecorded += 1
            candidates = [
                m
                for (who, body), ms in by_text.items()
                if who == recipient and body and body.strip() in text
                for m in ms
            ]
            explained = [m for m in candidates if m.id in ambiguous]
            if not explained:
                unmapped.append((recipient, text[:60], [m.id for m in candidates]))
                continue
            message = min(explained, key=lambda m: copies[m.id])
        copies[message.id] += 1
    report.add("  mapped by the provider's id", len(deliveries) - unrecorded)
    report.add("  not recorded, matched to an ambiguous row", unrecorded - len(unmapped))
    report.problem("  unexplained (no row, or no ambiguous mark)", unmapped)
    duplicates = [mid for mid, n in copies.items() if n > 1]
    report.add("messages delivered more than once", len(duplicates))
    report.problem(
        "duplicates without an ambiguous mark", [mid for mid in duplicates if mid not in ambiguous]
    )
    never_arrived = [
        (m.id, m.provider_message_id)
        for m in out
        if m.status == "sent"
        and m.channel in ("telegram", "whatsapp")
        and m.provider_message_id not in seen_ids
    ]
    report.problem("recorded sent but never arrived", never_arrived)
    return report


async def test_kill_a_web_process_a_worker_and_redis_under_traffic(
    cluster: Cluster, providers: Providers, world: World, scale_database: str
) -> None:
    chaos = Chaos()
    coachees = [Coachee(i) for i in range(COACHEES)]
    db = Database(scale_database)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=20)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            hooks = Webhooks(session, cluster, world)
            players = asyncio.gather(*(play(c, hooks, providers) for c in coachees))
            supervisor = asyncio.create_task(supervise(cluster))
            try:
                # A third of the traffic in: one web process dies, right after it accepted a
                # webhook (its turn is running in the background), with requests in flight.
                killed = asyncio.Event()

                def kill_serve(name: str) -> None:
                    if name == "serve-2" and len(hooks.accepted) >= 100 and not killed.is_set():
                        in_flight = hooks.in_flight["serve-2"] - 1  # not the one it answered
                        cluster.kill("serve-2")
                        killed.set()
                        chaos.log(
                            f"SIGKILL serve-2 after {len(hooks.accepted)} webhooks, right after "
                            f"it accepted one, {in_flight} other requests in flight"
                        )

                hooks.after_accept = kill_serve
                await asyncio.wait_for(killed.wait(), 60)
                nudges = await add_nudges(scale_database, [c.address for c in coachees])
                chaos.log(f"{nudges} nudges due")
                # A worker dies in the middle of a delivery batch, and comes back.
                deadline = time.monotonic() + 30
                while (victim := worker_mid_job(cluster)) is None or not await sending_rows(db):
                    assert time.monotonic() < deadline, f"no batch in flight\n{cluster.logs()}"
                    await asyncio.sleep(0.02)
                cluster.processes.kill(victim)
                chaos.log(f"SIGKILL {victim} mid-batch (restarted by the supervisor)")
                await wait_for(lambda: len(hooks.accepted) >= 200, 60, cluster)
                cluster.redis.kill()
                cluster.redis.start()
                chaos.log(f"Redis killed and restarted after {len(hooks.accepted)} webhooks")
                sent = await asyncio.wait_for(players, 120)
                chaos.log(f"traffic done: {sum(sent)} webhooks")
                # settle: the reaper and the recovery sweep return what the crashes left
                settle_deadline = time.monotonic() + 60
                while left := await unsettled(db):
                    assert time.monotonic() < settle_deadline, f"{left}\n{cluster.logs()}"
                    await asyncio.sleep(0.5)
                await asyncio.sleep(1.0)  # a send that was in flight lands at the provider
                restarts = {k: n - 1 for k, n in cluster.processes.starts.items() if n > 1}
                chaos.log(f"settled; restarted by the supervisor: {restarts}")
                chaos.log(f"the schedulers' housekeeping returned: {dict(returned(cluster))}")
            finally:
                supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await supervisor
                if not players.done():
                    players.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await players
        report = await account(scale_database, world, hooks, providers)
    finally:
        await db.dispose()
    print("\n" + "\n".join(f"t={t:>5}s  {what}" for t, what in chaos.events))
    print(report.table())
    assert not report.problems, f"{report.table()}\n{report.problems}\n{cluster.logs()}"
    assert sum(sent) == len(hooks.accepted) >= 200  # the traffic did flow


def returned(cluster: Cluster) -> Counter[str]:
    """What the schedulers' housekeeping handed out again, summed from their logs."""
    total: Counter[str] = Counter()
    for log in cluster.directory.glob("scheduler-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if '"housekeeping returned lost work"' in line:
                entry = json.loads(line)
                total.update({k: v for k, v in entry.items() if isinstance(v, int)})
    return total


async def supervise(cluster: Cluster) -> None:
    """Restart workers and schedulers that exited (as systemd would), twice a second."""
    for _ in itertools.count():
        cluster.supervise()
        await asyncio.sleep(0.5)


async def wait_for(check: Any, patience: float, cluster: Cluster) -> None:
    deadline = time.monotonic() + patience
    while not check():
        assert time.monotonic() < deadline, f"timed out\n{cluster.logs()}"
        await asyncio.sleep(0.05)
