"""Slash commands. Built-ins are /start, /help and /reset; other packages register theirs (the
programs issue adds /programs and /join) by passing more `Command`s to the engine."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from engine.models import Conversation
from engine.persona import greeting
from engine.routing import Turn
from engine.types import Reply

CommandHandler = Callable[[Turn, str], Awaitable[Reply]]

# "/start", "/Start@MyCoachBot payload", "/join sleep-reset": name, optional @bot, arguments.
_COMMAND = re.compile(r"^/([A-Za-z][A-Za-z0-9_-]{0,31})(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.S)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: CommandHandler
    usage: str = ""  # e.g. "SLUG" for /join SLUG
    hidden: bool = False


def parse_command(text: str) -> tuple[str, str] | None:
    """(lower-cased name, argument string) for a command line, or None if it is not one."""
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return match.group(1).lower(), (match.group(2) or "").strip()


class CommandRoute:
    name = "command"

    def __init__(self, commands: Sequence[Command]) -> None:
        self.commands: dict[str, Command] = {}
        for command in (*builtin_commands(self), *commands):
            if command.name in self.commands:
                raise ValueError(f"command /{command.name} is registered twice")
            self.commands[command.name] = command

    def check(self, turn: Turn) -> bool:
        return turn.text.startswith("/")

    async def handle(self, turn: Turn) -> Reply:
        parsed = parse_command(turn.text)
        command = self.commands.get(parsed[0]) if parsed else None
        if parsed is None or command is None:
            shown = turn.text.split()[0][:40]
            return Reply.text(
                f"I don't know the command `{shown}`. Type /help to see what I can do."
            )
        return await command.handler(turn, parsed[1])

    def help_text(self) -> str:
        lines = ["Here's what I can do:", ""]
        for command in self.commands.values():
            if not command.hidden:
                usage = f" {command.usage}" if command.usage else ""
                lines.append(f"- /{command.name}{usage}: {command.help}")
        lines += [
            "",
            "You can also just write to me. Send STOP to pause reminders and START to turn them "
            "back on.",
        ]
        return "\n".join(lines)


def builtin_commands(route: CommandRoute) -> list[Command]:
    async def start(turn: Turn, _args: str) -> Reply:
        return Reply.text(greeting(turn.creator, turn.contact))

    async def help_(turn: Turn, _args: str) -> Reply:
        return Reply.text(route.help_text())

    async def reset(turn: Turn, _args: str) -> Reply:
        old = turn.conversation
        old.status = "closed"
        old.closed_at = turn.now
        fresh = Conversation(
            creator_id=turn.creator.id,
            contact_id=turn.contact.id,
            started_at=turn.now,
            last_message_at=turn.now,
        )
        turn.session.add(fresh)
        await turn.session.flush()
        turn.conversation = fresh  # the reply goes into the new conversation
        return Reply.text(
            "Fresh start! I've closed our previous conversation. What's on your mind?"
        )

    return [
        Command("start", "say hello and see how I can help", start),
        Command("help", "show this list", help_),
        Command("reset", "start a fresh conversation", reset),
    ]
