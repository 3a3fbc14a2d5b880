"""Labeling page v2: the first-error reveal setting and shown vs fetched-ahead leases."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0003_job_heartbeat'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='assignment',
            name='shown_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='campaign',
            name='reveal',
            field=models.CharField(choices=[('all', 'Show every step; rows after the first negative are dimmed'), ('progressive', 'Reveal one step at a time')], default='all', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='campaign',
            constraint=models.CheckConstraint(condition=models.Q(('reveal__in', ['all', 'progressive'])), name='campaign_reveal_valid'),
        ),
        # Leases held before this change were all full leases: count them as shown.
        migrations.RunSQL(
            "UPDATE labeling_assignment SET shown_at = leased_at WHERE status = 'leased'",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
