"""Programs as the engine runs them for real contacts: enroll, leave, pause, resume, fire a due
wait. Builds the pure runner from stored state, runs one event, stores the result, in the
caller's transaction (so the state and the messages it produced commit together)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import outbox
from engine.models import Contact, Creator
from engine.policies import WHATSAPP_WINDOW
from engine.schedule import schedule
from engine.types import OutboundMessage
from programs import models as pm
from programs import store
from programs.definition import AskingStep, Program
from programs.facts import Facts
from programs.runner import ContactInfo, EnrollmentState, Outcome, Runner
from programs.timeexpr import WaitSpec, local_date, resolve_wait


class EnrollmentError(ValueError):
    """An enrollment operation that cannot be done as asked; the message says why."""


def contact_zone(program: Program, contact: Contact, creator: Creator) -> ZoneInfo:
    """The program's fixed zone, else the contact's, else the creator's, else UTC."""
    for name in (program.timezone, contact.timezone, creator.timezone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


@dataclass
class Loaded:
    enrollment: pm.Enrollment
    program: Program
    runner: Runner
    state: EnrollmentState
    facts: Facts
    tz: ZoneInfo
    contact: Contact
    slug: str


async def load(
    session: AsyncSession, enrollment: pm.Enrollment, version: pm.ProgramVersion | None = None
) -> Loaded:
    if version is None or version.id != enrollment.version_id:
        version = await session.get(pm.ProgramVersion, enrollment.version_id)
    contact = await session.get(Contact, enrollment.contact_id)
    assert version is not None  # foreign keys
    assert contact is not None
    creator = await session.get(Creator, contact.creator_id)
    assert creator is not None
    program = await store.definition_to_run(session, version)
    tz = contact_zone(program, contact, creator)
    runner = Runner(
        program,
        tz,
        ContactInfo(
            first_name=contact.first_name, name=contact.display_name, locale=contact.locale
        ),
    )
    facts = await store.load_facts(session, contact.id) if program.uses_facts else Facts()
    return Loaded(
        enrollment, program, runner, store.state_of(enrollment), facts, tz, contact, program.slug
    )


def wake_key(enrollment: pm.Enrollment, occurrence: int) -> str:
    """Idempotency key of one wake-up: this enrollment, this run of it, this wait."""
    return f"wake:{enrollment.id}:{int(enrollment.started_at.timestamp())}:{occurrence}"


async def schedule_wake(
    session: AsyncSession,
    enrollment: pm.Enrollment,
    contact: Contact,
    due_at: datetime,
    occurrence: int,
    *,
    slug: str,
    step: str | None,
) -> None:
    await schedule(
        session,
        key=wake_key(enrollment, occurrence),
        kind="program_wake",
        creator_id=contact.creator_id,
        contact_id=contact.id,
        enrollment_id=enrollment.id,
        due_at=due_at,
        payload={"occurrence": occurrence, "program": slug, "step": step},
    )


async def save(session: AsyncSession, loaded: Loaded, outcome: Outcome, now: datetime) -> None:
    """Store the runner's outcome and schedule what follows from it: the wake-up of a wait, and
    the nudge, timeout and WhatsApp re-ask of a question just put."""
    await store.save_outcome(session, loaded.enrollment, outcome, now, local_date(now, loaded.tz))
    state = outcome.state
    if state.status == "waiting_answer" and state.asked != loaded.state.asked:
        await schedule_question_follow_ups(session, loaded, state, now)
    if outcome.wakeup is not None:
        step = outcome.state.cursor
        await schedule_wake(
            session,
            loaded.enrollment,
            loaded.contact,
            outcome.wakeup,
            outcome.state.occurrence,
            slug=loaded.slug,
            step=step,
        )


async def schedule_question_follow_ups(
    session: AsyncSession, loaded: Loaded, state: EnrollmentState, now: datetime
) -> None:
    step = loaded.program.steps.get(state.cursor or "")
    if not isinstance(step, AskingStep):
        return
    run = f"{loaded.enrollment.id}:{int(loaded.enrollment.started_at.timestamp())}:{state.asked}"
    payload: dict[str, Any] = {"asked": state.asked, "program": loaded.slug, "step": step.id}

    async def add(kind: str, due: datetime, extra: dict[str, Any] | None = None) -> None:
        await schedule(
            session,
            key=f"{kind}:{run}",
            kind=kind,
            creator_id=loaded.contact.creator_id,
            contact_id=loaded.contact.id,
            enrollment_id=loaded.enrollment.id,
            due_at=due,
            payload={**payload, **(extra or {})},
        )

    for kind, rule in (("program_nudge", step.nudge), ("program_timeout", step.timeout)):
        if rule is not None:
            spec = WaitSpec("duration", duration=rule.after)
            await add(
                kind, resolve_wait(spec, now=now, tz=loaded.tz, program_start=state.start_date)
            )
    if loaded.program.whatsapp_reask:
        identity = await outbox.choose_identity(session, loaded.contact)
        last = identity.last_inbound_at if identity else None
        # Re-ask an hour before the window closes, while free text can still be sent.
        if identity is not None and identity.channel == "whatsapp" and last is not None:
            due = last + WHATSAPP_WINDOW - timedelta(hours=1)
            if due > now:
                await add("window_reask", due, {"last_inbound": last.isoformat()})


async def remind(
    session: AsyncSession, enrollment_id: int, asked: int, now: datetime
) -> tuple[pm.Enrollment | None, list[OutboundMessage]]:
    """The nudge of an unanswered question, if that very ask is still open."""
    enrollment = await session.get(pm.Enrollment, enrollment_id)
    if enrollment is None or enrollment.status != "waiting_answer":
        return enrollment, []
    loaded = await load(session, enrollment)
    return enrollment, loaded.runner.remind(loaded.state, asked, now, loaded.facts)


async def expire(
    session: AsyncSession, enrollment_id: int, asked: int, now: datetime
) -> tuple[pm.Enrollment | None, list[OutboundMessage]]:
    """An unanswered question's timeout: pause, or move on, as the step says."""
    enrollment = await session.get(pm.Enrollment, enrollment_id, with_for_update=True)
    if enrollment is None or enrollment.status != "waiting_answer":
        return enrollment, []
    loaded = await load(session, enrollment)
    outcome = loaded.runner.expire(loaded.state, asked, now, loaded.facts)
    if outcome.state == loaded.state:
        return enrollment, []
    await save(session, loaded, outcome, now)
    return enrollment, outcome.messages


async def enroll(
    session: AsyncSession,
    creator: Creator,
    contact: Contact,
    slug: str,
    now: datetime,
    *,
    start_at: datetime | None = None,
    deliver: bool = True,
) -> tuple[pm.Enrollment, list[OutboundMessage]]:
    """Enroll `contact` in the latest version of program `slug` and start it now, returning the
    first messages. With a later `start_at`, or `deliver=False` (no channel at hand, e.g. the
    CLI), the enrollment stays scheduled and the scheduler starts it. Re-enrolling after
    completing or leaving starts over; one running program at a time per contact."""
    program = await store.find_program(session, creator.id, slug)
    if program is None:
        raise EnrollmentError(f"there is no program {slug!r}")
    version = await store.latest_version(session, program.id)
    assert version is not None  # a program row is only created with its first version
    current = await store.current_enrollment(session, contact.id)
    if current is not None:
        title = (await session.get(pm.Program, current.program_id)) or program
        raise EnrollmentError(f"already in the program {title.title!r}")
    enrollment = await store.enrollment_for(session, contact.id, program.id)
    definition = store.definition(version)
    tz = contact_zone(definition, contact, creator)
    placeholder = EnrollmentState(
        status="scheduled", cursor=definition.first, start_date=local_date(now, tz)
    )
    if enrollment is None:
        enrollment = pm.Enrollment(
            contact_id=contact.id,
            program_id=program.id,
            version_id=version.id,
            status="scheduled",
            state=placeholder.to_json(),
            started_at=now,
            updated_at=now,
        )
        session.add(enrollment)
    else:  # starting over on the latest version
        enrollment.version_id, enrollment.completed_at = version.id, None
        enrollment.started_at = now
    enrollment.state, enrollment.status = placeholder.to_json(), "scheduled"
    enrollment.cursor, enrollment.occurrence = definition.first, 0
    enrollment.wait_until, enrollment.updated_at = start_at or now, now
    await session.flush()
    if not deliver or (start_at is not None and start_at > now):
        await schedule_wake(
            session, enrollment, contact, start_at or now, 0, slug=slug, step=definition.first
        )
        return enrollment, []
    loaded = await load(session, enrollment)
    outcome = loaded.runner.start(now, loaded.facts)
    await save(session, loaded, outcome, now)
    return enrollment, outcome.messages


async def fire_due(
    session: AsyncSession,
    enrollment_id: int,
    now: datetime,
    *,
    force: bool = False,
    occurrence: int | None = None,
) -> tuple[pm.Enrollment, list[OutboundMessage]]:
    """Run the wake-up of an enrollment whose wait (or scheduled start) has come. Calling it
    again, early, or for a wait the enrollment has already left (`occurrence` no longer
    current) changes nothing, unless `force` (fast-forward for trying a program out)."""
    enrollment = await session.scalar(
        select(pm.Enrollment).where(pm.Enrollment.id == enrollment_id).with_for_update()
    )
    if enrollment is None:
        raise EnrollmentError(f"no enrollment {enrollment_id}")
    if occurrence is not None and not force and occurrence != enrollment.occurrence:
        return enrollment, []
    loaded = await load(session, enrollment)
    if enrollment.status == "scheduled":
        if not force and enrollment.wait_until is not None and now < enrollment.wait_until:
            return enrollment, []
        outcome = loaded.runner.start(now, loaded.facts)
    else:
        outcome = loaded.runner.due(loaded.state, now, loaded.facts, force=force)
        if outcome.state == loaded.state and not outcome.messages:
            return enrollment, []
    await save(session, loaded, outcome, now)
    return enrollment, outcome.messages


async def leave(session: AsyncSession, contact: Contact, now: datetime) -> pm.Enrollment | None:
    enrollment = await store.current_enrollment(session, contact.id)
    if enrollment is None:
        return None
    state = dataclasses.replace(store.state_of(enrollment), status="left", wait_until=None)
    enrollment.state, enrollment.status = state.to_json(), "left"
    enrollment.wait_until, enrollment.updated_at = None, now
    return enrollment


async def pause(session: AsyncSession, contact: Contact, now: datetime) -> pm.Enrollment | None:
    enrollment = await store.current_enrollment(session, contact.id)
    if enrollment is None or enrollment.status == "paused":
        return enrollment
    state = store.state_of(enrollment)
    state = dataclasses.replace(
        state, status="paused", paused_status=state.status, paused_reason="coachee"
    )
    enrollment.state, enrollment.status, enrollment.updated_at = state.to_json(), "paused", now
    return enrollment


async def resume(
    session: AsyncSession, contact: Contact, now: datetime
) -> tuple[pm.Enrollment | None, list[OutboundMessage]]:
    """Pick up where the contact paused. A wait that ended during the pause fires now, under the
    program's catch-up policy, so a long pause never releases a burst of old messages."""
    enrollment = await store.current_enrollment(session, contact.id)
    if enrollment is None or enrollment.status != "paused":
        return enrollment, []
    loaded = await load(session, enrollment)
    if loaded.state.paused_reason == "migration":
        return enrollment, []  # the creator must map the removed step first
    state = dataclasses.replace(
        loaded.state,
        status=loaded.state.paused_status or "active",
        paused_status=None,
        paused_reason=None,
    )
    messages: list[OutboundMessage] = []
    if state.status == "waiting_until":
        outcome = loaded.runner.due(state, now, loaded.facts)
    elif state.status == "waiting_answer":
        outcome = Outcome(state, messages=loaded.runner.reprompt(state, now, loaded.facts))
    else:
        outcome = loaded.runner.jump(state, state.cursor or loaded.program.first, now, loaded.facts)
    messages = outcome.messages
    await save(session, loaded, outcome, now)
    return enrollment, messages


async def skip_to(
    session: AsyncSession, enrollment_id: int, step_id: str, now: datetime
) -> list[OutboundMessage]:
    """Move a running enrollment to `step_id` and run from there (a coach's decision)."""
    enrollment = await session.get(pm.Enrollment, enrollment_id, with_for_update=True)
    if enrollment is None or enrollment.status in ("completed", "left"):
        raise EnrollmentError(f"enrollment {enrollment_id} is not running")
    loaded = await load(session, enrollment)
    if step_id not in loaded.program.steps:
        raise EnrollmentError(f"the program has no step {step_id!r}")
    outcome = loaded.runner.jump(loaded.state, step_id, now, loaded.facts)
    await save(session, loaded, outcome, now)
    return outcome.messages


async def restart(
    session: AsyncSession, creator: Creator, contact: Contact, now: datetime
) -> list[OutboundMessage]:
    """Start the contact's current program over from its first step, on its latest version."""
    current = await store.current_enrollment(session, contact.id)
    if current is None:
        raise EnrollmentError("not in a program")
    program = await session.get(pm.Program, current.program_id)
    assert program is not None
    await leave(session, contact, now)
    await session.flush()
    _, messages = await enroll(session, creator, contact, program.slug, now)
    return messages
