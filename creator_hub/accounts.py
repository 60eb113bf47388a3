"""Coach accounts: sign up (a new workspace with its owner), sign in with throttling, password
resets and invitations. No HTTP here: the routes validate input and call these.

Throttling: five failed sign-ins for an account within `FAIL_WINDOW` lock it for
`LOCK_FOR`; while locked even the right password is refused (so the sixth rapid attempt fails,
whatever it is). Unknown e-mail addresses cost a full hash verification too, so timing does not
tell which addresses have accounts.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from creator_hub.models import COLLABORATOR, OWNER, ROLES, Account, Membership, OneTimeToken
from engine.creators import EMAIL_PATTERN, CreatorError, create_creator
from engine.models import Creator
from engine.passwords import check_strength, hash_password, needs_rehash, verify_password

MAX_FAILURES = 5
FAIL_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
RESET_VALID = timedelta(hours=1)
INVITE_VALID = timedelta(days=7)
_DUMMY_HASH = hash_password("not-a-real-password-just-for-timing")


class AccountError(ValueError):
    """Shown to the person as is: what went wrong and what to do."""


class LockedOut(AccountError):
    pass


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 320:
        raise AccountError("enter a valid e-mail address")
    return email


def _password(password: str) -> str:
    try:
        check_strength(password)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    return hash_password(password)


async def find_account(session: AsyncSession, email: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.email == email.strip().lower()))


async def sign_up(
    session: AsyncSession,
    *,
    name: str,
    email: str,
    password: str,
    workspace: str,
    slug: str,
    timezone: str,
    now: datetime,
) -> tuple[Account, Creator]:
    """A new account owning a new workspace (creator)."""
    email = normalize_email(email)
    if not name.strip() or len(name) > 200:
        raise AccountError("enter your name (up to 200 characters)")
    if await find_account(session, email) is not None:
        raise AccountError("an account with this e-mail already exists: sign in instead")
    password_hash = _password(password)
    try:
        creator = await create_creator(
            session,
            slug=slug,
            name=name.strip(),
            email=email,
            password=None,
            bot_name=workspace.strip() or None,
            timezone=timezone or "UTC",
            now=now,
        )
    except CreatorError as exc:
        raise AccountError(str(exc)) from None
    account = Account(email=email, name=name.strip(), password_hash=password_hash, created_at=now)
    session.add(account)
    await session.flush()
    session.add(
        Membership(account_id=account.id, creator_id=creator.id, role=OWNER, created_at=now)
    )
    await session.flush()
    return account, creator


async def _from_creator(
    session: AsyncSession, email: str, password: str, now: datetime
) -> Account | None:
    """A creator made with `coachbot creator create --password-stdin` signs in with the same
    e-mail and password: their account is made on the first sign-in."""
    creator = await session.scalar(select(Creator).where(func.lower(Creator.email) == email))
    if creator is None or not creator.password_hash:
        return None
    if not verify_password(creator.password_hash, password):
        return None
    account = Account(
        email=email, name=creator.name, password_hash=creator.password_hash, created_at=now
    )
    session.add(account)
    await session.flush()
    session.add(
        Membership(account_id=account.id, creator_id=creator.id, role=OWNER, created_at=now)
    )
    return account


async def authenticate(session: AsyncSession, email: str, password: str, now: datetime) -> Account:
    """The account, or AccountError (LockedOut while locked). Failures are counted."""
    try:
        email = normalize_email(email)
    except AccountError:
        raise AccountError("wrong e-mail or password") from None
    account = await session.scalar(select(Account).where(Account.email == email).with_for_update())
    if account is None:
        made = await _from_creator(session, email, password, now)
        if made is not None:
            made.last_login_at = now
            return made
        verify_password(_DUMMY_HASH, password)
        raise AccountError("wrong e-mail or password")
    if account.locked_until is not None and account.locked_until > now:
        minutes = max(1, int((account.locked_until - now).total_seconds() // 60) + 1)
        raise LockedOut(
            f"too many failed attempts: this account is locked for {minutes} more minute(s). "
            "You can also reset your password."
        )
    if not verify_password(account.password_hash, password):
        if account.first_failed_at is None or now - account.first_failed_at > FAIL_WINDOW:
            account.first_failed_at, account.failed_logins = now, 0
        account.failed_logins += 1
        if account.failed_logins >= MAX_FAILURES:
            account.locked_until = now + LOCK_FOR
        raise AccountError("wrong e-mail or password")
    account.failed_logins, account.first_failed_at, account.locked_until = 0, None, None
    account.last_login_at = now
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return account


async def memberships(session: AsyncSession, account_id: int) -> list[tuple[Membership, Creator]]:
    rows = await session.execute(
        select(Membership, Creator)
        .join(Creator, Creator.id == Membership.creator_id)
        .where(Membership.account_id == account_id)
        .order_by(Creator.name)
    )
    return [(m, c) for m, c in rows]


async def role_in(session: AsyncSession, account_id: int, creator_id: int) -> str | None:
    return await session.scalar(
        select(Membership.role).where(
            Membership.account_id == account_id, Membership.creator_id == creator_id
        )
    )


async def _issue(session: AsyncSession, token: OneTimeToken) -> str:
    raw = secrets.token_urlsafe(32)
    token.token_hash = digest(raw)
    session.add(token)
    await session.flush()
    return raw


async def _redeem(session: AsyncSession, raw: str, purpose: str, now: datetime) -> OneTimeToken:
    token = await session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == digest(raw), OneTimeToken.purpose == purpose
        )
    )
    if token is None or token.used_at is not None or token.expires_at <= now:
        raise AccountError("this link is invalid or has expired: ask for a new one")
    return token


async def request_reset(session: AsyncSession, email: str, now: datetime) -> str | None:
    """A reset token for the account, or None for an unknown address (the page says the same
    either way)."""
    account = await find_account(session, email)
    if account is None:
        return None
    return await _issue(
        session,
        OneTimeToken(
            purpose="reset", account_id=account.id, created_at=now, expires_at=now + RESET_VALID
        ),
    )


async def check_reset(session: AsyncSession, raw: str, now: datetime) -> OneTimeToken:
    return await _redeem(session, raw, "reset", now)


async def reset_password(session: AsyncSession, raw: str, password: str, now: datetime) -> Account:
    """Set the new password, lift a lock, and sign the account out everywhere."""
    from creator_hub.models import HubSession

    token = await _redeem(session, raw, "reset", now)
    account = await session.get(Account, token.account_id)
    if account is None:
        raise AccountError("this link is invalid or has expired: ask for a new one")
    account.password_hash = _password(password)
    account.failed_logins, account.first_failed_at, account.locked_until = 0, None, None
    token.used_at = now
    await session.execute(delete(HubSession).where(HubSession.account_id == account.id))
    return account


@dataclass(frozen=True)
class Invitation:
    email: str
    role: str
    creator: Creator


async def invite(
    session: AsyncSession, creator_id: int, email: str, role: str, now: datetime
) -> str:
    email = normalize_email(email)
    if role not in ROLES:
        raise AccountError(f"the role must be one of {', '.join(ROLES)}")
    return await _issue(
        session,
        OneTimeToken(
            purpose="invite",
            creator_id=creator_id,
            email=email,
            role=role,
            created_at=now,
            expires_at=now + INVITE_VALID,
        ),
    )


async def check_invite(session: AsyncSession, raw: str, now: datetime) -> Invitation:
    token = await _redeem(session, raw, "invite", now)
    creator = await session.get(Creator, token.creator_id)
    if creator is None or not token.email:
        raise AccountError("this link is invalid or has expired: ask for a new one")
    return Invitation(token.email, token.role or COLLABORATOR, creator)


async def accept_invite(
    session: AsyncSession,
    raw: str,
    now: datetime,
    *,
    account: Account | None = None,
    name: str = "",
    password: str = "",
) -> tuple[Account, int]:
    """Join the workspace: as the signed-in account (same e-mail as invited), or as a new
    account made here. Returns the account and the workspace's creator id."""
    token = await _redeem(session, raw, "invite", now)
    email = token.email or ""
    if account is None:
        if await find_account(session, email) is not None:
            raise AccountError(f"{email} already has an account: sign in, then open the link again")
        if not name.strip():
            raise AccountError("enter your name")
        account = Account(
            email=email, name=name.strip()[:200], password_hash=_password(password), created_at=now
        )
        session.add(account)
        await session.flush()
    elif account.email != email:
        raise AccountError(f"this invitation is for {email}; you are signed in as {account.email}")
    assert token.creator_id is not None
    if await role_in(session, account.id, token.creator_id) is None:
        session.add(
            Membership(
                account_id=account.id,
                creator_id=token.creator_id,
                role=token.role or COLLABORATOR,
                created_at=now,
            )
        )
    token.used_at = now
    return account, token.creator_id


async def team(session: AsyncSession, creator_id: int) -> list[tuple[Account, str]]:
    rows = await session.execute(
        select(Account, Membership.role)
        .join(Membership, Membership.account_id == Account.id)
        .where(Membership.creator_id == creator_id)
        .order_by(Account.name)
    )
    return [(a, r) for a, r in rows]
