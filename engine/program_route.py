"""Programs in the conversation: the route that takes answers to a pending program question (and
the creator's jump keywords), and the coachee commands /programs, /join, /leave, /pause, /resume
and /skipwait."""

from __future__ import annotations

import dataclasses

from engine import enrollment as enroll_ops
from engine.answering import Answerer
from engine.commands import Command
from engine.keywords import keyword
from engine.routing import Turn
from engine.types import Channel, OutboundMessage, Reply
from programs import models as pm
from programs import store
from programs.runner import PAYLOAD_PREFIX

LOADED = "program"


class ProgramRoute:
    """Takes the turn when the contact's program waits for an answer, when a program button is
    pressed, or when the text is one of the program's jump keywords. A text that is clearly a
    question rather than an answer goes to the answerer, and the pending question is asked again:
    the program never loses its place."""

    name = "program"

    def __init__(self, answerer: Answerer) -> None:
        self.answerer = answerer

    async def prepare(self, turn: Turn) -> None:
        current = await store.current_enrollment_with_version(turn.session, turn.contact.id)
        if current is None:
            return
        enrollment, version = current
        loaded = await enroll_ops.load(turn.session, enrollment, version)
        if enrollment.status == "paused":
            if loaded.state.paused_reason != "no_answer":
                return  # the coachee paused (or a migration did): replies are not answers
            # Paused because nobody answered: an answer now picks the program up again.
            loaded.state = dataclasses.replace(
                loaded.state, status="waiting_answer", paused_status=None, paused_reason=None
            )
        turn.data[LOADED] = loaded

    def check(self, turn: Turn) -> bool:
        loaded = turn.data.get(LOADED)
        if loaded is None:
            return False
        payload = turn.inbound.choice_payload or ""
        if payload.startswith(PAYLOAD_PREFIX) or keyword(turn.text) in loaded.program.keywords:
            return True
        return loaded.state.status == "waiting_answer" and bool(turn.text or payload)

    async def handle(self, turn: Turn) -> Reply:
        loaded: enroll_ops.Loaded = turn.data[LOADED]
        runner, state, facts = loaded.runner, loaded.state, loaded.facts
        jump_to = loaded.program.keywords.get(keyword(turn.text))
        if jump_to is not None and not turn.inbound.choice_payload:
            outcome = runner.jump(state, jump_to, turn.now, facts)
        else:
            outcome = runner.answer(
                state, turn.inbound.text, turn.inbound.choice_payload, turn.now, facts
            )
            if not outcome.answered:  # a side question
                answer = await self.answerer.answer(turn)
                again = runner.reprompt(state, turn.now, facts)
                return Reply(messages=(*answer.messages, *_back_to(again)))
        await enroll_ops.save(turn.session, loaded, outcome, turn.now)
        return Reply(messages=tuple(outcome.messages))


def _back_to(prompts: list[OutboundMessage]) -> list[OutboundMessage]:
    if not prompts:
        return []
    first = prompts[0]
    return [
        OutboundMessage(f"Back to our question: {first.text}", first.choices, first.media),
        *prompts[1:],
    ]


def program_commands() -> list[Command]:
    async def programs(turn: Turn, _args: str) -> Reply:
        listed = await store.list_programs(turn.session, turn.creator.id)
        if not listed:
            return Reply.text(f"{turn.creator.name} hasn't published any programs yet.")
        lines = ["Programs you can join:", ""]
        lines += [f"- **{p.title}**: /join {p.slug}" for p in listed]
        return Reply.text("\n".join(lines))

    async def join(turn: Turn, args: str) -> Reply:
        slug = args.strip().lower()
        if not slug:
            return Reply.text(
                "Which one? Send /programs to see them, then /join followed by its name."
            )
        try:
            _, messages = await enroll_ops.enroll(
                turn.session, turn.creator, turn.contact, slug, turn.now
            )
        except enroll_ops.EnrollmentError as exc:
            hint = (
                " Send /leave first if you want to switch."
                if "already" in str(exc)
                else " Send /programs to see them."
            )
            return Reply.text(f"I can't do that: {exc}.{hint}")
        return Reply(messages=tuple(messages))

    async def leave(turn: Turn, _args: str) -> Reply:
        left = await enroll_ops.leave(turn.session, turn.contact, turn.now)
        if left is None:
            return Reply.text("You're not in a program right now.")
        program = await turn.session.get(pm.Program, left.program_id)
        title = program.title if program else "the program"
        return Reply.text(f"You've left {title}. You can /join it again anytime.")

    async def pause(turn: Turn, _args: str) -> Reply:
        paused = await enroll_ops.pause(turn.session, turn.contact, turn.now)
        if paused is None:
            return Reply.text("You're not in a program right now.")
        return Reply.text("Paused. Nothing from your program until you send /resume.")

    async def resume(turn: Turn, _args: str) -> Reply:
        resumed, messages = await enroll_ops.resume(turn.session, turn.contact, turn.now)
        if resumed is None:
            return Reply.text("You're not in a program right now.")
        if resumed.status == "paused":
            return Reply.text(
                f"{turn.creator.name} is updating your program; I'll pick it up as soon as "
                "that's done."
            )
        if not messages:
            return Reply.text("Your program is running; I'll be in touch at the next step.")
        return Reply(messages=(OutboundMessage("Welcome back!"), *messages))

    async def skipwait(turn: Turn, _args: str) -> Reply:
        if turn.inbound.channel is not Channel.TERMINAL:
            return Reply.text(
                "I don't know the command `/skipwait`. Type /help to see what I can do."
            )
        current = await store.current_enrollment(turn.session, turn.contact.id)
        if current is None or current.status not in ("waiting_until", "scheduled"):
            return Reply.text("Nothing to skip: your program isn't waiting.")
        _, messages = await enroll_ops.fire_due(turn.session, current.id, turn.now, force=True)
        return Reply(messages=(OutboundMessage("(skipped ahead)"), *messages))

    return [
        Command("programs", "list the programs you can join", programs),
        Command("join", "start a program", join, usage="NAME"),
        Command("leave", "leave your program", leave),
        Command("pause", "pause your program", pause),
        Command("resume", "pick your program up again", resume),
        Command(
            "skipwait", "(testing) jump to the next step of your program now", skipwait, hidden=True
        ),
    ]
