"""Users, organisations and groups: lookups for the engine, writes for apply and import."""

from __future__ import annotations

from datetime import timezone
from typing import Any, Iterable

from sqlalchemy import bindparam, delete, select, update

from engine.errors import StoreError, TransientStoreError
from engine.store.base import Session, fold_address
from engine.store.prepared import Prepared
from engine.store.directory_cache import (
    GROUP_ID, GROUP_NAME, ORG_DOMAIN, ORG_ID, ORG_NAME, USER_EMAIL, USER_ID, USER_LOGIN,
)
from engine.store.records import Group, Organisation, User, from_row
from engine.store.schema import ROLES, SafeText, group_members, groups, organisation_domains, organisations, users

USER_FIELDS = ("name", "email", "role", "organisation_id", "location")
_SAFE = SafeText()
# Built once, run prepared (engine/store/prepared.py): directory look-ups are a poll's hot path.
_USER = Prepared(select(users).where(users.c.id == bindparam("id")))
_BY_EMAIL = Prepared(select(users).where(users.c.email_key == bindparam("key")).order_by(users.c.id).limit(1))
_BY_LOGIN = Prepared(select(users).where(users.c.login == bindparam("login")))
_ORG = Prepared(select(organisations).where(organisations.c.id == bindparam("id")))
_ORG_BY_NAME = Prepared(select(organisations).where(organisations.c.name == bindparam("name")))
_ORG_BY_DOMAIN = Prepared(
    select(organisations)
    .join(organisation_domains, organisation_domains.c.organisation_id == organisations.c.id)
    .where(organisation_domains.c.domain == bindparam("domain"))
    .order_by(organisations.c.id)
    .limit(1)
)
_ORG_DOMAINS = Prepared(select(organisation_domains.c.domain)
                        .where(organisation_domains.c.organisation_id == bindparam("id"))
                        .order_by(organisation_domains.c.domain))
_GROUP = Prepared(select(groups).where(groups.c.id == bindparam("id")))
_GROUP_BY_NAME = Prepared(select(groups).where(groups.c.name == bindparam("name")))
_MEMBERS = Prepared(select(group_members.c.user_id).where(group_members.c.group_id == bindparam("id"))
                   .order_by(group_members.c.user_id))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise StoreError(f"user role {role!r} is not one of {', '.join(ROLES)}")


def _domains(values: Iterable[str]) -> list[str]:
    """Lower-case, de-duplicated, order kept; a leading '@' is tolerated."""
    seen: list[str] = []
    for value in values:
        domain = value.strip().lstrip("@").lower()
        if domain and domain not in seen:
            seen.append(domain)
    return seen


class UserReads(Session):
    """Read side: what the engine's StateView asks about people (through the poll's cache, if any)."""

    def user(self, user_id: int) -> User | None:
        """The user with this id, or None."""
        return self._cached(USER_ID, user_id, lambda: self._one_user(_USER, {"id": user_id}))

    def user_by_email(self, address: str) -> User | None:
        """F-USR-1: match case-insensitively; with several matches the lowest id."""
        key = fold_address(address)
        return self._cached(USER_EMAIL, key, lambda: self._one_user(_BY_EMAIL, {"key": key}))

    def user_by_login(self, login: str) -> User | None:
        """The user with this login (exact), or None."""
        return self._cached(USER_LOGIN, login, lambda: self._one_user(_BY_LOGIN, {"login": login}))

    def users(self) -> list[User]:
        """Every user, by id."""
        return [from_row(User, r) for r in self._rows(select(users).order_by(users.c.id))]

    def _one_user(self, stmt: Any, params: dict[str, Any]) -> User | None:
        rows = self._rows(stmt, params)
        return from_row(User, rows[0]) if rows else None

    def organisation(self, organisation_id: int) -> Organisation | None:
        """The organisation with this id, with its domains, or None."""
        return self._cached(ORG_ID, organisation_id, lambda: self._one_org(_ORG, {"id": organisation_id}))

    def organisation_by_name(self, name: str) -> Organisation | None:
        """The organisation with this exact name, or None."""
        return self._cached(ORG_NAME, name, lambda: self._one_org(_ORG_BY_NAME, {"name": name}))

    def organisation_by_domain(self, domain: str) -> Organisation | None:
        """F-USR-2: the first organisation (lowest id) listing this email domain."""
        wanted = domain.strip().lstrip("@").lower()
        return self._cached(ORG_DOMAIN, wanted, lambda: self._one_org(_ORG_BY_DOMAIN, {"domain": wanted}))

    def organisations(self) -> list[Organisation]:
        """Every organisation, by id."""
        rows = self._rows(select(organisations).order_by(organisations.c.id))
        return [self._org(r) for r in rows]

    def _one_org(self, stmt: Any, params: dict[str, Any]) -> Organisation | None:
        rows = self._rows(stmt, params)
        return self._org(rows[0]) if rows else None

    def _org(self, row: Any) -> Organisation:
        domains = tuple(r[0] for r in self._rows(_ORG_DOMAINS, {"id": row.id}))
        return from_row(Organisation, row, domains=domains)

    def group(self, name: str) -> Group | None:
        """The group with this exact name and its member ids, or None."""
        return self._cached(GROUP_NAME, name, lambda: self._one_group(_GROUP_BY_NAME, {"name": name}))

    def group_by_id(self, group_id: int) -> Group | None:
        """The group with this id and its member ids, or None."""
        return self._cached(GROUP_ID, group_id, lambda: self._one_group(_GROUP, {"id": group_id}))

    def groups(self) -> list[Group]:
        """Every group, by id."""
        return [self._group(r) for r in self._rows(select(groups).order_by(groups.c.id))]

    def _one_group(self, stmt: Any, params: dict[str, Any]) -> Group | None:
        rows = self._rows(stmt, params)
        return self._group(rows[0]) if rows else None

    def _group(self, row: Any) -> Group:
        members = tuple(r[0] for r in self._rows(_MEMBERS, {"id": row.id}))
        return from_row(Group, row, member_ids=members)


class UserWrites(Session):
    """Write side: creating and updating people (apply, directory import)."""

    def create_user(
        self,
        login: str,
        *,
        name: str = "",
        email: str | None = None,
        role: str = "requester",
        organisation_id: int | None = None,
        location: str | None = None,
        unless_login_taken: bool = False,
    ) -> int | None:
        """Create a user and return its id.

        Pollers sharing a store may create the same new sender at once: when the
        login was just taken for the same address, that user's id is returned.
        Taken for another address, the caller's choice of login is stale:
        TransientStoreError, so the message is evaluated again and picks another.
        `unless_login_taken`: a login taken by anyone means None and nothing written
        (apply: one statement where a look-up of the login came first).
        """
        _check_role(role)
        values = dict(login=login, name=name, email=email, email_key=fold_address(email), role=role,
                      organisation_id=organisation_id, location=location, created_at=self.now())
        new_id = self._insert_new(users, values, "id")
        if new_id is not None:
            self._remember_created(new_id, values)
            return new_id
        self._forget(USER_EMAIL, values["email_key"])
        self._forget(USER_LOGIN, login)
        if unless_login_taken:
            return None
        existing = self.user_by_login(login)
        if existing is not None and fold_address(existing.email) == fold_address(email):
            return existing.id
        raise TransientStoreError(f"the login {login!r} was taken meanwhile by another user")

    def _remember_created(self, user_id: int, values: dict[str, Any]) -> None:
        """The poll's cache learns the new user as a read would return it: apply looks it up next."""
        text = {name: _SAFE.process_bind_param(values[name], None) for name in ("login", "name", "email", "location")}
        record = User(id=user_id, role=values["role"], organisation_id=values["organisation_id"],
                      created_at=values["created_at"].astimezone(timezone.utc), **text)
        self._remember(USER_ID, user_id, record)
        self._remember(USER_LOGIN, values["login"], record)
        if self._directory is not None:  # by address only where none was: else the lowest id answers (F-USR-1)
            self._directory.fill(USER_EMAIL, values["email_key"], record)

    def update_user(self, user_id: int, **fields: Any) -> None:
        """Change some of name, email, role, organisation_id, location."""
        unknown = set(fields) - set(USER_FIELDS)
        if unknown:
            raise StoreError(f"unknown user fields: {', '.join(sorted(unknown))}")
        if "role" in fields:
            _check_role(fields["role"])
        if "email" in fields:
            fields["email_key"] = fold_address(fields["email"])
        if fields:
            self._exec(update(users).where(users.c.id == user_id).values(**fields))
            self._forget_kinds(USER_ID, USER_EMAIL, USER_LOGIN)

    def create_organisation(self, name: str, *, domains: Iterable[str] = (), shares_tickets: bool = False) -> int:
        """Create an organisation with its email domains and return its id.

        When a concurrent writer (another poller syncing the same config) created
        it first, its id is returned and its domains are left as that writer set them.
        """
        values = dict(name=name, shares_tickets=shares_tickets, created_at=self.now())
        org_id = self._insert_new(organisations, values, "id")
        self._forget(ORG_NAME, name)
        if org_id is None:
            return self.organisation_by_name(name).id
        self.set_organisation_domains(org_id, domains)
        return org_id

    def update_organisation(self, organisation_id: int, *, shares_tickets: bool) -> None:
        """Change whether the organisation's members see each other's tickets."""
        stmt = update(organisations).where(organisations.c.id == organisation_id)
        self._exec(stmt.values(shares_tickets=shares_tickets))
        self._forget_kinds(ORG_ID, ORG_NAME, ORG_DOMAIN)

    def set_organisation_domains(self, organisation_id: int, domains: Iterable[str]) -> None:
        """Replace the organisation's email domains.

        Only what differs is written, and a domain another poller added meanwhile is
        no conflict: pollers syncing the same config together converge (issue 17).
        """
        table, wanted = organisation_domains, list(_domains(domains))
        self._exec(delete(table).where(table.c.organisation_id == organisation_id, table.c.domain.not_in(wanted)))
        for domain in wanted:
            self._insert_new(table, dict(organisation_id=organisation_id, domain=domain), "domain")
        self._forget_kinds(ORG_ID, ORG_NAME, ORG_DOMAIN)

    def create_group(self, name: str) -> int:
        """Create a group and return its id (the existing one's when a concurrent writer was first)."""
        group_id = self._insert_new(groups, dict(name=name, created_at=self.now()), "id")
        self._forget(GROUP_NAME, name)
        return self.group(name).id if group_id is None else group_id

    def add_member(self, group_id: int, user_id: int) -> bool:
        """Add a user to a group; False when they were a member already."""
        table = group_members
        self._forget_kinds(GROUP_ID, GROUP_NAME)
        return self._insert_new(table, dict(group_id=group_id, user_id=user_id), "user_id") is not None

    def set_members(self, group_id: int, user_ids: Iterable[int]) -> None:
        """Replace the group's members (only what differs, so concurrent syncs converge, like the domains)."""
        table, wanted = group_members, list(dict.fromkeys(user_ids))
        self._exec(delete(table).where(table.c.group_id == group_id, table.c.user_id.not_in(wanted)))
        for user_id in wanted:
            self._insert_new(table, dict(group_id=group_id, user_id=user_id), "user_id")
        self._forget_kinds(GROUP_ID, GROUP_NAME)
