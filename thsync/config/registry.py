"""The loaded tenants and their rules, reloaded when files change.

Reload = parse fresh, validate, then swap, per tenant. A broken edit keeps the tenant's last good
version running; the errors are logged and kept for the dashboard and the CLI.
"""

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from thsync.config.tenants import Tenant, TenantFileErrors, load_tenant, tenant_files
from thsync.core.clock import Clock
from thsync.rules.ruleset import RuleFileErrors, RuleSet, load_ruleset

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    tenant: Tenant
    ruleset: RuleSet
    loaded_at: float


# (path, mtime in ns, size) of every file: a change to any of them means a reload.
Signature = tuple[tuple[str, int, int], ...]


def _signature(*folders: Path) -> Signature:
    entries = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.yaml")):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


class Registry:
    def __init__(
        self,
        tenants_dir: str | os.PathLike[str],
        rules_dir: str | os.PathLike[str],
        clock: Clock,
        check_every: float = 2.0,
        env: Mapping[str, str] | None = None,
        production: bool = False,
    ) -> None:
        self.tenants_dir = Path(tenants_dir)
        self.rules_dir = Path(rules_dir)
        self.clock = clock
        self.check_every = check_every
        self.env = os.environ if env is None else env
        self.production = production
        self._lock = threading.RLock()
        self._loaded: dict[str, Loaded] = {}
        self._errors: dict[str, list[str]] = {}
        self._signature: Signature | None = None
        self._checked_at = float("-inf")
        self.reload()

    def reload(self) -> dict[str, list[str]]:
        """Load every tenant afresh; keep the last good version of any that fails."""
        with self._lock:
            signature = _signature(self.tenants_dir, self.rules_dir)
            errors: dict[str, list[str]] = {}
            seen: set[str] = set()
            for path in tenant_files(self.tenants_dir):
                seen.add(path.stem)
                problems = self._load_one(path)
                if problems:
                    errors[path.stem] = problems
            for gone in set(self._loaded) - seen:
                log.warning("tenant %s: its file was removed; it is no longer served", gone)
                del self._loaded[gone]
            self._errors = errors
            self._signature = signature
            self._checked_at = self.clock.now()
            return errors

    def _load_one(self, path: Path) -> list[str]:
        try:
            tenant = load_tenant(path, self.env, self.production)
            if tenant is None:
                return []
            ruleset = load_ruleset(self.rules_dir, tenant.id)
        except (TenantFileErrors, RuleFileErrors) as exc:
            problems = [str(e) for e in exc.errors]
            kept = " (the last good version keeps running)" if path.stem in self._loaded else ""
            log.error("tenant %s not reloaded%s:\n%s", path.stem, kept, "\n".join(problems))
            return problems
        self._loaded[tenant.id] = Loaded(tenant, ruleset, self.clock.now())
        return []

    def refresh(self) -> None:
        """Reload if any file changed (checked at most every `check_every` seconds)."""
        now = self.clock.now()
        if now - self._checked_at < self.check_every:
            return
        with self._lock:
            self._checked_at = now
            if _signature(self.tenants_dir, self.rules_dir) != self._signature:
                self.reload()

    def get(self, tenant_id: str) -> tuple[Tenant, RuleSet] | tuple[None, None]:
        """(tenant, ruleset), or (None, None) for an unknown tenant."""
        self.refresh()
        loaded = self._loaded.get(tenant_id)
        return (loaded.tenant, loaded.ruleset) if loaded else (None, None)

    def tenants(self) -> list[Tenant]:
        self.refresh()
        return [
            loaded.tenant for loaded in sorted(self._loaded.values(), key=lambda x: x.tenant.id)
        ]

    def errors(self) -> dict[str, list[str]]:
        self.refresh()
        return dict(self._errors)

    def loaded_at(self, tenant_id: str) -> float | None:
        loaded = self._loaded.get(tenant_id)
        return loaded.loaded_at if loaded else None
