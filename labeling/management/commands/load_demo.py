from django.core.management.base import BaseCommand
from tqdm import tqdm

from labeling.demo_accounts import DEMO_PASSWORD, DEMO_USERS
from labeling.services.demo import demo_load


class Command(BaseCommand):
    help = "Create the demo users and the GSM8K and MATH campaigns (idempotent)."

    def handle(self, *args, **opts):
        bars: dict = {}

        def progress(done: int, total: int) -> None:
            bar = bars.get("bar")
            if bar is None or done < bar.n:  # the next campaign's import started
                if bar is not None:
                    bar.close()
                bar = bars["bar"] = tqdm(desc="demo import", unit="line", total=total)
            bar.update(done - bar.n)

        result = demo_load(progress=progress)
        if "bar" in bars:
            bars["bar"].close()
        for slug, res in result.imports.items():
            if res is None:
                self.stdout.write(f"campaign '{slug}': already loaded")
            else:
                self.stdout.write(f"campaign '{slug}':\n{res.summary()}")
        users = ", ".join(u for u, _ in DEMO_USERS)
        self.stdout.write(self.style.SUCCESS(f"demo users: {users} (password: {DEMO_PASSWORD})"))
