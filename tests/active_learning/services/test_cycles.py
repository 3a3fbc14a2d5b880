from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from active_learning.models import ActiveLearningConfig, TrainingRun
from active_learning.services.cycles import cycle_due_reason, cycles_start_due
from labeling.models import OutboxMessage

NOW = timezone.now()


def cfg(**kw):
    base = dict(enabled=True, min_labels=10, retrain_after_labels=50, retrain_every_minutes=60)
    return ActiveLearningConfig(**{**base, **kw})


def last(labels, minutes_ago):
    return SimpleNamespace(label_count=labels, created_at=NOW - timedelta(minutes=minutes_ago))


@pytest.mark.parametrize(
    ("config", "labels", "previous", "expected"),
    [
        (cfg(), 5, None, None),  # too few labels to train at all
        (cfg(), 10, None, "labels"),  # first model as soon as there is enough
        (cfg(enabled=False), 500, None, None),
        (cfg(), 149, last(100, 5), None),
        (cfg(), 150, last(100, 5), "labels"),  # M new labels
        (cfg(), 101, last(100, 61), "schedule"),  # N minutes, something new
        (cfg(), 100, last(100, 600), None),  # N minutes but nothing new
        (cfg(retrain_every_minutes=0, retrain_after_labels=0), 1000, last(10, 999), None),
    ],
)
def test_cycle_due_reason(config, labels, previous, expected):
    assert cycle_due_reason(config=config, labels=labels, last=previous, now=NOW) == expected


@pytest.mark.django_db
def test_beat_check_starts_due_campaigns_once(al_campaign, django_capture_on_commit_callbacks, monkeypatch):
    campaign, _ = al_campaign
    sent = []
    monkeypatch.setattr("labeling.services.outbox.outbox_publish", lambda ids: sent.extend(ids))
    with django_capture_on_commit_callbacks(execute=True):
        started = cycles_start_due()
    assert [r.campaign_id for r in started] == [campaign.pk]
    assert started[0].trigger == "labels" and started[0].label_count == 18
    msg = OutboxMessage.objects.get(ref=f"run:{started[0].pk}")
    assert (msg.task, msg.args) == ("active_learning.tasks.start_cycle", [started[0].pk])
    assert sent == [msg.pk]  # published after commit
    assert cycles_start_due() == []  # a live run holds the lock
    TrainingRun.objects.filter(pk=started[0].pk).update(status="succeeded")
    assert cycles_start_due() == []  # nothing new since


@pytest.mark.django_db
def test_one_campaign_with_broken_settings_does_not_stop_the_others(al_campaign, monkeypatch, caplog):
    from tests.factories import AssignmentFactory, CampaignFactory

    campaign, _ = al_campaign
    broken = CampaignFactory(slug="broken")
    AssignmentFactory(task__campaign=broken, status="submitted", submitted_at=timezone.now(), lease_expires_at=None)
    ActiveLearningConfig.objects.create(campaign=broken, min_labels=1, model_config={"no_such_field": 1})
    started = cycles_start_due()
    assert [r.campaign_id for r in started] == [campaign.pk]
    assert "not starting a cycle for broken" in caplog.text and "no_such_field" in caplog.text
