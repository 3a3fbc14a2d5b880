"""Extension points: how other apps add to labeling without labeling importing them.

`labeling` is the core; `active_learning` depends on it and plugs in here from
its AppConfig.ready() (the model tab and overview panel of the dashboard, its
part of the demo, the model's step probabilities as pre-labels, its settings
when a campaign is copied). Registration
is idempotent per key, so a re-run of ready() (tests, autoreload) never
doubles an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DashboardTab:
    """A tab of the manager dashboard; `url_name` is reversed with the campaign slug."""

    key: str
    label: str
    url_name: str
    order: int = 100


@dataclass(frozen=True)
class OverviewPanel:
    """A panel on the overview page: `template` rendered with `context(campaign)`."""

    key: str
    template: str
    context: Callable[..., dict[str, Any]]
    order: int = 100


@dataclass
class Registry:
    tabs: dict[str, DashboardTab] = field(default_factory=dict)
    panels: dict[str, OverviewPanel] = field(default_factory=dict)
    # Called with (campaign=..., spec=...) after load_demo created or found a demo campaign.
    demo_hooks: dict[str, Callable[..., None]] = field(default_factory=dict)
    # Called with (campaign=..., solution_id=...); returns ModelPrelabels or None (no active model,
    # or it has not scored this solution). Used by campaigns with prelabels="model".
    model_prelabels: dict[str, Callable[..., ModelPrelabels | None]] = field(default_factory=dict)
    # Called with (source=..., target=...) inside the transaction that made `target` as a copy of
    # `source`'s settings, so an app copies its own per-campaign settings along (or not at all).
    copy_hooks: dict[str, Callable[..., None]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelPrelabels:
    """A model's probability that each step is correct (None where it gave none), and which model."""

    step_probs: list[float | None]
    source: str


registry = Registry()


def dashboard_tab_register(tab: DashboardTab) -> None:
    registry.tabs[tab.key] = tab


def overview_panel_register(panel: OverviewPanel) -> None:
    registry.panels[panel.key] = panel


def demo_hook_register(key: str, hook: Callable[..., None]) -> None:
    registry.demo_hooks[key] = hook


def model_prelabels_register(key: str, provider: Callable[..., ModelPrelabels | None]) -> None:
    registry.model_prelabels[key] = provider


def campaign_copy_hook_register(key: str, hook: Callable[..., None]) -> None:
    registry.copy_hooks[key] = hook


def campaign_copy_hooks() -> list[Callable[..., None]]:
    return [registry.copy_hooks[k] for k in sorted(registry.copy_hooks)]


def model_prelabels(*, campaign, solution_id: int) -> ModelPrelabels | None:
    """The first registered provider's answer for this solution (providers in key order)."""
    for key in sorted(registry.model_prelabels):
        found = registry.model_prelabels[key](campaign=campaign, solution_id=solution_id)
        if found is not None:
            return found
    return None


def dashboard_tabs() -> list[DashboardTab]:
    return sorted(registry.tabs.values(), key=lambda t: (t.order, t.key))


def overview_panels() -> list[OverviewPanel]:
    return sorted(registry.panels.values(), key=lambda p: (p.order, p.key))


def demo_hooks() -> list[Callable[..., None]]:
    return [registry.demo_hooks[k] for k in sorted(registry.demo_hooks)]
