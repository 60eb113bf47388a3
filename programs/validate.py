"""Whole-program checks after parsing: references, reachability, loops that never wait, templates
and conditions. `load_program` is the one entry point: text in, a valid `Program` or every problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from engine.keywords import keyword
from programs import definition as d
from programs.located import Loc
from programs.parse import Parser, Problem, ProgramInvalid, did_you_mean, parse_located
from programs.templating import (
    CONTEXT_NAMES,
    FACT_NAMES,
    check_condition,
    check_template,
    names_used,
)


def successors(step: d.Step) -> list[str]:
    """Where the program can go after `step` (its `next` must already be resolved)."""
    after = [step.next] if step.next else []
    if isinstance(step, d.EndStep):
        return []
    if isinstance(step, d.BranchStep):
        has_else = any(b.condition is None for b in step.branches)
        return [b.goto for b in step.branches] + ([] if has_else else after)
    if isinstance(step, (d.MessageStep, d.AskingStep)) and step.choices:
        targets = [c.goto for c in step.choices if c.goto]
        if len(targets) < len(step.choices):
            targets += after
    else:
        targets = list(after)
    if isinstance(step, d.AskingStep):
        targets += [step.on_fail] if step.on_fail else after
        if step.timeout is not None and step.timeout.then not in ("pause",):
            targets += after if step.timeout.then == "next" else [step.timeout.then]
    return list(dict.fromkeys(targets))


def _resolve_next(program: d.Program) -> d.Program:
    ids = list(program.steps)
    steps = {}
    for index, step_id in enumerate(ids):
        step = program.steps[step_id]
        if step.next is None and not isinstance(step, d.EndStep) and index + 1 < len(ids):
            step = dataclasses.replace(step, next=ids[index + 1])
        steps[step_id] = step
    return dataclasses.replace(program, steps=steps)


def _check_refs(parser: Parser, program: d.Program) -> None:
    ids = set(program.steps)
    refs = [ref for draft in parser.drafts for ref in draft.refs] + parser.keyword_refs
    for target, loc, field in refs:
        if target not in ids:
            parser.error(
                loc,
                f"`{field}` points to step {target!r}, which does not exist"
                f"{did_you_mean(target, ids)}",
            )


def _check_reachable(parser: Parser, program: d.Program) -> None:
    seen: set[str] = set()
    todo = [program.first, *program.keywords.values()]
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in program.steps:
            continue
        seen.add(step_id)
        todo.extend(successors(program.steps[step_id]))
    for draft in parser.drafts:
        if draft.step.id not in seen and program.steps.get(draft.step.id) is not None:
            parser.error(
                draft.loc,
                f"step {draft.step.id!r} can never be reached: no step or keyword leads to it "
                "(add a `next`/`goto` to it, or remove it)",
            )


def _cycles_without_wait(program: d.Program) -> Iterator[list[str]]:
    """Cycles made only of steps that do not block: the runner would spin forever."""
    graph = {
        sid: [t for t in successors(step) if t in program.steps and not program.steps[t].blocks]
        for sid, step in program.steps.items()
        if not step.blocks
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> Iterator[list[str]]:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                yield [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                yield from visit(nxt)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            yield from visit(node)


def _check_loops(parser: Parser, program: d.Program) -> None:
    locs = {draft.step.id: draft.loc for draft in parser.drafts}
    for cycle in _cycles_without_wait(program):
        parser.error(
            locs.get(cycle[0], Loc(1, 1)),
            f"steps {' → '.join(cycle)} loop without ever waiting: put a wait or a question "
            "in the loop",
        )


def _check_texts(parser: Parser, program: d.Program) -> None:
    known = CONTEXT_NAMES | set(program.variables) | set(parser.stored)
    for draft in parser.drafts:
        for source, loc in draft.templates:
            for message in check_template(source, known):
                parser.error(loc, message)
        for source, loc in draft.conditions:
            for message in check_condition(source, known):
                parser.error(loc, message)


def _uses_facts(parser: Parser, program: d.Program) -> bool:
    if any(isinstance(step, d.BadgeStep) for step in program.steps.values()):
        return True
    for draft in parser.drafts:
        used: set[str] = set()
        for source, _ in draft.templates:
            used |= names_used(source)
        for source, _ in draft.conditions:
            used |= names_used(source, condition=True)
        if used & FACT_NAMES:
            return True
    return False


def check_program(
    text: str, creator_words: Iterable[str] = ()
) -> tuple[d.Program | None, list[Problem]]:
    """Parse and validate; the program is None whenever there is a problem. `creator_words`:
    the creator's own opt-out and opt-in words, which no keyword may use."""
    program, parser = parse_located(text, frozenset(keyword(w) for w in creator_words))
    if program is not None and program.steps:
        program = _resolve_next(program)
        _check_refs(parser, program)
        _check_reachable(parser, program)
        _check_loops(parser, program)
        _check_texts(parser, program)
        program = dataclasses.replace(program, uses_facts=_uses_facts(parser, program))
    problems = sorted(set(parser.problems))
    return (None if problems else program), problems


def load_program(text: str, creator_words: Iterable[str] = ()) -> d.Program:
    program, problems = check_program(text, creator_words)
    if problems or program is None:
        raise ProgramInvalid(problems)
    return program
