"""The kinds of HR source a tenant file may name (`source: employment_hero`), each with the
factory that opens one for a tenant. A new source plugs in by registering its kind here (or,
for a test's stand-in, with register_source); nothing in the pipeline names a source."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from thsync.core import http
from thsync.core.errors import UnknownSource
from thsync.core.ratelimit import Limiter
from thsync.sources.base import HRSource
from thsync.sources.employment_hero.source import EmploymentHeroSource

if TYPE_CHECKING:  # handed in by the layers above
    from thsync.config.tenants import Tenant
    from thsync.services import Services

DEFAULT_SOURCE = "employment_hero"


@dataclass(frozen=True)
class SourceKind:
    name: str
    # (services, tenant, recorder=, limiter=) -> HRSource
    open: Callable[..., HRSource]
    section: str | None = None  # the tenant-file section this source needs, if any


_KINDS: dict[str, SourceKind] = {
    DEFAULT_SOURCE: SourceKind(DEFAULT_SOURCE, EmploymentHeroSource, section="employment_hero"),
}


def register_source(kind: SourceKind) -> None:
    _KINDS[kind.name] = kind


def forget_source(name: str) -> None:
    """Remove a registered kind (a test's stand-in); the built-in one stays."""
    if name != DEFAULT_SOURCE:
        _KINDS.pop(name, None)


def source_names() -> list[str]:
    return sorted(_KINDS)


def source_kind(name: str) -> SourceKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownSource(
            f"unknown source {name!r} (known: {', '.join(source_names())})"
        ) from None


def open_source(
    services: "Services",
    tenant: "Tenant",
    recorder: http.Recorder | None = None,
    limiter: Limiter | None = None,
) -> HRSource:
    """The tenant's source, opened with the shared limiter unless the caller brings its own."""
    kind = source_kind(tenant.source)
    return kind.open(services, tenant, recorder=recorder, limiter=limiter or services.limiter)
