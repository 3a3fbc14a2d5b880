"""Seed a load campaign in the database DATABASE_URL names (run as a child process).

    python -m tests.faults.seed_campaign SOLUTIONS.jsonl N_ANNOTATORS

Prints {"slug": ..., "tokens": [...]} as JSON on the last line.
"""

import json
import os
import sys
import uuid


def main(path: str, annotators: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")
    import django

    django.setup()
    from rest_framework.authtoken.models import Token

    from labeling.services.campaigns import campaign_create, membership_set, user_create
    from labeling.services.imports import solutions_import

    run = uuid.uuid4().hex[:8]
    campaign = campaign_create(slug=f"load-{run}", name=f"Load {run}", qc_rate=0, overlap=1)
    solutions_import(campaign=campaign, path=path)
    tokens = []
    for i in range(annotators):
        user = user_create(username=f"load-{run}-{i}", password=None)
        membership_set(campaign=campaign, user=user)
        tokens.append(Token.objects.create(user=user).key)
    print(json.dumps({"slug": campaign.slug, "tokens": tokens}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
