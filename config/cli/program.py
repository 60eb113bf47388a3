"""`coachbot program …` and `coachbot enroll`: write, check, try, publish and assign programs."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from config.cli.base import AppContext, fail, pass_app


@click.group("program")
def program_group() -> None:
    """Coaching programs: validate, simulate, publish, list, migrate."""


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None


@program_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check program FILES and print every problem with its line and column."""
    from programs.validate import check_program

    failed = False
    for path in files:
        program, problems = check_program(_read(path))
        for problem in problems:
            click.echo(problem.format(path), err=True)
        if program is None:
            failed = True
            click.echo(f"{path}: {len(problems)} problem(s)", err=True)
        else:
            click.echo(f"{path}: valid ({program.slug}, {len(program.steps)} steps)")
    if failed:
        sys.exit(1)


@program_group.command("simulate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--answers",
    "answers_file",
    type=click.Path(dir_okay=False),
    help="YAML list of answers, one per question, in order; {text, after} to reply late.",
)
@click.option("--tz", "zone", default="UTC", show_default=True, help="The coachee's timezone.")
@click.option("--start", help="When the coachee joins, ISO 8601 (default: now).")
@click.option("--name", default="Sam", show_default=True, help="The coachee's first name.")
def simulate(file: str, answers_file: str | None, zone: str, start: str | None, name: str) -> None:
    """Run a program on a fast-forward clock and print a timestamped transcript. Without
    --answers you answer each question yourself (/quit stops)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from programs.parse import ProgramInvalid
    from programs.simulate import ScriptedAnswer, Simulation, format_line, load_answers
    from programs.validate import load_program

    try:
        program = load_program(_read(file))
    except ProgramInvalid as exc:
        raise fail(f"the program has problems:\n{exc.format(file)}") from None
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"unknown timezone {zone!r}") from None
    moment = _parse_start(start, tz)
    if answers_file:
        try:
            queue = iter(load_answers(_read(answers_file)))
        except ValueError as exc:
            raise fail(f"{answers_file}: {exc}") from None

        def next_answer() -> ScriptedAnswer | None:
            return next(queue, None)
    else:

        def next_answer() -> ScriptedAnswer | None:
            try:
                text = input(f"{name}> ")
            except (EOFError, KeyboardInterrupt):
                return None
            return None if text.strip() in ("/quit", "/exit") else ScriptedAnswer(text)

    simulation = Simulation(program, tz=tz, start=moment, name=name)
    for line in simulation.run(next_answer):
        if line.speaker != name or answers_file:  # interactive answers are already on screen
            click.echo(format_line(line, tz))


def _parse_start(start: str | None, tz: object) -> datetime:
    from zoneinfo import ZoneInfo

    assert isinstance(tz, ZoneInfo)
    if start is None:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        raise fail(f"--start {start!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


@program_group.command("publish")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--creator", "slug", required=True, help="The creator who owns the program.")
@pass_app
def publish(app: AppContext, file: str, slug: str) -> None:
    """Validate FILE and publish it as the program's next version. People already in the
    program stay on their version until you migrate them."""
    source = _read(file)
    app.start(quiet=True)

    async def work(db):  # type: ignore[no-untyped-def]
        from engine.clock import SystemClock
        from engine.creators import CreatorError, get_creator, own_keywords
        from programs.parse import ProgramInvalid
        from programs.store import publish as publish_program

        async with db.transaction() as session:
            try:
                creator = await get_creator(session, slug)
                result = await publish_program(
                    session, creator.id, source, SystemClock().now(), own_keywords(creator)
                )
            except CreatorError as exc:
                raise fail(str(exc)) from None
            except ProgramInvalid as exc:
                raise fail(
                    f"not published, the program has problems:\n{exc.format(file)}"
                ) from None
            return result.program.slug, result.version.version, result.created

    program, version, created = app.run_with_db(work)
    if created:
        click.echo(f"published {program} version {version}")
    else:
        click.echo(f"{program} is unchanged: version {version} is already this file")


@program_group.command("list")
@click.option("--creator", "slug", required=True, help="Whose programs to list.")
@pass_app
def list_(app: AppContext, slug: str) -> None:
    """List a creator's programs with their latest version and enrollments."""
    app.start(quiet=True)

    async def work(db):  # type: ignore[no-untyped-def]
        from engine.creators import CreatorError, get_creator
        from programs.store import list_programs

        async with db.sessions() as session:
            try:
                creator = await get_creator(session, slug)
            except CreatorError as exc:
                raise fail(str(exc)) from None
            return await list_programs(session, creator.id)

    rows = app.run_with_db(work)
    if not rows:
        click.echo("no programs yet: `coachbot program publish FILE --creator SLUG`")
        return
    click.echo(f"{'PROGRAM':<24} {'VERSION':>7} {'ACTIVE':>6} {'DONE':>6}  TITLE")
    for row in rows:
        click.echo(
            f"{row.slug:<24} {row.version:>7} {row.active:>6} {row.completed:>6}  {row.title}"
        )


@program_group.command("migrate")
@click.option("--creator", "slug", required=True)
@click.option("--program", "program_slug", required=True)
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="OLD=NEW",
    help="Where people on a removed step go (repeatable).",
)
@pass_app
def migrate(app: AppContext, slug: str, program_slug: str, mappings: tuple[str, ...]) -> None:
    """Move everyone running the program onto its latest version. People on a step the new
    version removed move by --map, or are paused and listed."""
    step_map = {}
    for item in mappings:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise fail(f"--map {item!r}: use OLD_STEP=NEW_STEP")
        step_map[old.strip()] = new.strip()
    app.start(quiet=True)

    async def work(db):  # type: ignore[no-untyped-def]
        from engine.clock import SystemClock
        from engine.creators import CreatorError, get_creator
        from programs import store

        async with db.transaction() as session:
            try:
                creator = await get_creator(session, slug)
            except CreatorError as exc:
                raise fail(str(exc)) from None
            program = await store.find_program(session, creator.id, program_slug)
            if program is None:
                raise fail(f"no program {program_slug!r}")
            latest = await store.latest_version(session, program.id)
            assert latest is not None
            result = await store.migrate_enrollments(
                session, program, latest, step_map, SystemClock().now()
            )
            return latest.version, result

    version, result = app.run_with_db(work)
    click.echo(f"moved {result['moved']} enrollment(s) to version {version}")
    if result["paused"]:
        click.echo(
            f"paused {len(result['paused'])} whose step no longer exists "
            f"(enrollments {result['paused']}); rerun with --map OLD=NEW to move them"
        )


@click.command("enroll")
@click.option("--creator", "slug", required=True)
@click.option("--program", "program_slug", required=True)
@click.option("--contact", "contact_id", required=True, type=int, help="The contact's id.")
@click.option("--at", "start", help="Start later, ISO 8601 (default: at once).")
@pass_app
def enroll(
    app: AppContext, slug: str, program_slug: str, contact_id: int, start: str | None
) -> None:
    """Put a contact into a program. The first message goes out through the scheduler (inside
    `coachbot serve`, or `coachbot scheduler`)."""
    app.start(quiet=True)

    async def work(db):  # type: ignore[no-untyped-def]
        from engine import enrollment as ops
        from engine.clock import SystemClock
        from engine.creators import CreatorError, get_creator
        from engine.models import Contact

        now = SystemClock().now()
        at = _parse_start(start, _utc()) if start else now
        async with db.transaction() as session:
            try:
                creator = await get_creator(session, slug)
            except CreatorError as exc:
                raise fail(str(exc)) from None
            contact = await session.get(Contact, contact_id)
            if contact is None or contact.creator_id != creator.id:
                raise fail(f"{slug} has no contact {contact_id}")
            try:
                enrollment, _ = await ops.enroll(
                    session,
                    creator,
                    contact,
                    program_slug,
                    now,
                    start_at=max(at, now),
                    deliver=False,
                )
            except ops.EnrollmentError as exc:
                raise fail(str(exc)) from None
            return enrollment.id, at

    enrollment_id, at = app.run_with_db(work)
    click.echo(f"enrollment {enrollment_id}: starts {at.isoformat(timespec='minutes')}")


def _utc() -> object:
    from zoneinfo import ZoneInfo

    return ZoneInfo("UTC")
