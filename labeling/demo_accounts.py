"""Demo logins, importable without Django set up (devrun prints them)."""

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed for the demo on purpose
# (username, campaign role); the manager is also Django staff.
DEMO_USERS = [
    ("manager", "manager"),
    ("alice", "annotator"),
    ("bob", "annotator"),
    ("carol", "annotator"),
]
