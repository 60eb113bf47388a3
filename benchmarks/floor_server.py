"""The floor of a program-step turn: the least a Python process must do for one, with no
framework. It answers the load run's Telegram webhook (`/webhooks/telegram/KEY`) by running
the same eight SQL statements as `coachbot serve` (captured from `turn_profile.py
--statements`) through asyncpg, with the same transactions (the claim and the marking in
autocommit, the rest in one), and sending the same two replies to the fake Bot API with
aiohttp's client. What it leaves out is everything the product does in Python: the
program's runner, guardrails, rendering, the ORM, python-telegram-bot. `turn_floor.py` runs it
(one process per core, as the serves) and compares it with the real serves and with a raw
aiohttp hello-world.

    python benchmarks/floor_server.py --port P --database-url URL --provider-url URL \\
        --binding-id N --token T --webhook-secret S
"""

from __future__ import annotations

import argparse
import hmac
import json
from datetime import UTC, datetime

import aiohttp
import asyncpg
from aiohttp import web

CLAIM = (
    "INSERT INTO inbound_receipts (binding_id, external_message_id, status, inbound, raw,"
    " received_at, claimed_at) VALUES ($1::BIGINT, $2::VARCHAR, 'claimed', $3::JSONB, $4::JSONB,"
    " $5, $5) ON CONFLICT (binding_id, external_message_id) DO NOTHING RETURNING id"
)
TAKE = (
    "WITH taken AS (UPDATE inbound_receipts SET status = 'processed', processed_at = $1,"
    " error = NULL WHERE id = $2::BIGINT AND status = 'claimed'"
    " RETURNING binding_id, inbound, raw)"
    " SELECT channel_bindings.*, creators.*, taken.inbound, taken.raw FROM taken"
    " LEFT JOIN channel_bindings ON channel_bindings.id = taken.binding_id"
    " LEFT JOIN creators ON creators.id = channel_bindings.creator_id"
)
STAMPS = (
    "WITH stamped_contact AS (UPDATE contacts SET last_seen_at = $1 FROM channel_identities"
    " WHERE contacts.id = channel_identities.contact_id AND channel_identities.binding_id = $2"
    " AND channel_identities.external_user_id = $3 RETURNING contacts.*),"
    " stamped_identity AS (UPDATE channel_identities SET last_inbound_at = $1,"
    " unreachable_at = NULL WHERE binding_id = $2 AND external_user_id = $3"
    " AND contact_id = (SELECT id FROM stamped_contact) RETURNING channel_identities.*),"
    " stamped_conversation AS (UPDATE conversations SET last_message_at = $1"
    " WHERE status = 'open' AND id = (SELECT id FROM conversations WHERE contact_id ="
    " (SELECT id FROM stamped_contact) AND status = 'open' ORDER BY id DESC LIMIT 1)"
    " RETURNING conversations.*)"
    " SELECT stamped_contact.id AS contact_id, stamped_contact.first_name,"
    " stamped_identity.id AS identity_id, stamped_conversation.id AS conversation_id"
    " FROM stamped_contact JOIN stamped_identity ON true"
    " LEFT JOIN stamped_conversation ON true"
)
ENROLLMENT = (
    "SELECT enrollments.*, program_versions.id AS version_id, program_versions.version,"
    " program_versions.checksum FROM enrollments"
    " JOIN program_versions ON program_versions.id = enrollments.version_id"
    " WHERE enrollments.contact_id = $1 AND enrollments.status IN"
    " ('active', 'waiting_answer', 'waiting_until', 'paused')"
    " ORDER BY enrollments.updated_at DESC LIMIT 1"
)
INBOUND = (
    "INSERT INTO messages (conversation_id, contact_id, direction, channel, binding_id,"
    " receipt_id, text, payload, route, status, created_at) VALUES ($1, $2, 'in', 'telegram',"
    " $3, $4, $5, '{}'::JSONB, 'program', 'received', $6) RETURNING id"
)
SAVE = (
    "WITH saved_state AS (UPDATE enrollments SET status = 'waiting_answer', cursor = 'mood',"
    " occurrence = 0, state = $3::JSONB, updated_at = $2 WHERE id = $1),"
    " saved_checkin AS (INSERT INTO checkins (contact_id, enrollment_id, metric, value,"
    " recorded_at, local_date) VALUES ($4, $1, 'mood', $5, $2, $6))"
    " INSERT INTO program_step_log (enrollment_id, step, event, at)"
    " VALUES ($1, 'mood', 'waiting_answer', $2)"
)
REPLIES = (
    "INSERT INTO messages (conversation_id, contact_id, direction, channel, binding_id,"
    " reply_to_id, text, payload, route, status, created_at) VALUES"
    " ($1, $2, 'out', 'telegram', $3, $4, $5, '{}'::JSONB, 'program', 'pending', $7),"
    " ($1, $2, 'out', 'telegram', $3, $4, $6, '{}'::JSONB, 'program', 'pending', $7)"
    " RETURNING id"
)
MARK_SENT = (
    "UPDATE messages SET status = 'sent', provider_message_id = $2, sent_at = $3"
    " WHERE id = $1 AND direction = 'out'"
)


class Floor:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pool: asyncpg.Pool | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self, _app: web.Application) -> None:
        self.pool = await asyncpg.create_pool(self.args.database_url, min_size=10, max_size=10)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self, _app: web.Application) -> None:
        assert self.pool is not None
        assert self.http is not None
        await self.http.close()
        await self.pool.close()

    async def webhook(self, request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(secret, self.args.webhook_secret):
            return web.Response(status=403)
        update = await request.json()
        message = update["message"]
        user, text = str(message["from"]["id"]), str(message["text"])
        now = datetime.now(UTC)
        binding = self.args.binding_id
        inbound = {"channel": "telegram", "binding_id": binding, "external_user_id": user,
                   "external_message_id": str(update["update_id"]), "text": text,
                   "sender_name": message["from"].get("first_name"),
                   "received_at": now.isoformat()}  # fmt: skip
        assert self.pool is not None
        receipt = await self.pool.fetchval(
            CLAIM,
            binding,
            inbound["external_message_id"],
            json.dumps(inbound),
            json.dumps(update),
            now,
        )
        if receipt is None:
            return web.Response(text="duplicate")
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.fetchrow(TAKE, now, receipt)
            person = await connection.fetchrow(STAMPS, now, binding, user)
            enrollment = await connection.fetchrow(ENROLLMENT, person["contact_id"])
            state = json.loads(enrollment["state"])
            value = float(text)
            state.update(asked=state.get("asked", 0) + 1, last_answer=value)
            inbound_id = await connection.fetchval(
                INBOUND,
                person["conversation_id"],
                person["contact_id"],
                binding,
                receipt,
                text,
                now,
            )
            await connection.execute(
                SAVE, enrollment["id"], now, json.dumps(state), person["contact_id"], value,
                now.date(),
            )  # fmt: skip
            texts = (
                f"Thanks! Noted {text}. Small steps add up.",
                f"How is your energy today, {person['first_name']}? 1-10",
            )
            rows = await connection.fetch(
                REPLIES, person["conversation_id"], person["contact_id"], binding, inbound_id,
                *texts, now,
            )  # fmt: skip
        # In order, one after the other, as the serve sends a reply's parts.
        sent = []
        for row, body in zip(rows, texts, strict=True):
            sent.append((row["id"], await self.send(user, body), now))
        await self.pool.executemany(MARK_SENT, sent)
        return web.Response(text="ok")

    async def send(self, chat_id: str, text: str) -> str:
        assert self.http is not None
        url = f"{self.args.provider_url}/bot{self.args.token}/sendMessage"
        async with self.http.post(url, data={"chat_id": chat_id, "text": text}) as response:
            answer = await response.json()
        return str(answer["result"]["message_id"])


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--database-url", "--provider-url", "--token", "--webhook-secret"):
        parser.add_argument(name, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--binding-id", type=int, required=True)
    args = parser.parse_args()
    floor = Floor(args)
    app = web.Application()
    app.on_startup.append(floor.start)
    app.on_cleanup.append(floor.stop)
    app.router.add_post("/webhooks/telegram/{key}", floor.webhook)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
