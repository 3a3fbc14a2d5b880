"""Benchmark of the campaign manager dashboard on a campaign with a million step labels.

    .venv/bin/python bench/bench_dashboard.py [--reseed] [--runs 10] [--db-name bench_dashboard]
                                              [--what-if-index] [--wait-idle SECONDS] ...

Target (product spec): every manager page renders in under 300 ms for a campaign
with 1M step labels and 200 annotators.

What it does, in order:

1. Finds the PostgreSQL server: DATABASE_URL's server if set, else the embedded
   one (annotate/embedded.py, data under .var/). Creates the database
   `--db-name` (default `bench_dashboard`) on it, points DATABASE_URL at it
   *before* Django is imported and runs `migrate` there, so the development and
   test databases are never touched.
2. Seeds it with set-based SQL (INSERT ... SELECT over generate_series, one
   transaction, no ORM per row): 200 annotators + 1 manager (users, profiles,
   memberships), 65,000 work solutions with 7-11 steps, overlap-2 tasks, about
   125,000 submitted assignments with their step labels (over 1M) and
   label-summary columns, 200 live leases, 1,000 gold tasks with 5 QC
   labelings each and their GoldScore rows (computed in SQL the way
   labeling.services.quality.gold_score_record does), the adjudication queue
   (the disagreements DISAGREEMENTS_SQL finds, a quarter resolved), a few PRM
   models, training runs and jobs. Then VACUUM ANALYZE. A database that
   already holds a complete seed with the same parameters is reused; --reseed
   (or different parameters) drops and recreates it.
3. Checks the seed: summary columns equal what the step labels say, task
   counters equal the assignment rows, adjudications_sync finds nothing new.
4. Runs agreement_refresh(campaign=...) once (background work, its own figure).
5. Renders each manager page with Django's test Client, logged in as the
   manager (force_login): one warm-up request under CaptureQueriesContext
   (query count and per-query SQL time), then --runs timed requests. Also
   times the selectors alone (dashboard.selectors.overview and annotator_rows).
   --wait-idle N first waits (up to N s) until other processes use < 0.5 cores:
   this machine is shared, and wall times follow its load. Each page also gets
   the CPU ms per request of this process and of its PostgreSQL backend, which
   depend much less on that load.
6. EXPLAIN (ANALYZE, BUFFERS) of the slowest queries of every page.
7. With --what-if-index: times the overview with presorted aggregates off, then
   the heavy pages and selectors with a candidate covering index on submitted
   assignments, each inside a transaction that is rolled back (the schema is
   left as the migrations made it).
8. Prints a table and writes bench/results/dashboard.json.

Percentiles are nearest-rank: with 10 runs, p95 is the slowest run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "dashboard.json"
SLUG = "bench-dashboard"
MANAGER = "bench-manager"
MARKER = "bench_dashboard seed v1"
TARGET_MS = 300.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db-name", default="bench_dashboard", help="database made for the seed (default bench_dashboard)")
    p.add_argument("--reseed", action="store_true", help="drop the database and seed again")
    p.add_argument("--runs", type=int, default=10, help="timed requests per page after one warm-up (default 10)")
    p.add_argument("--annotators", type=int, default=200)
    p.add_argument("--solutions", type=int, default=65_000, help="work (non-gold) solutions, 4 per problem")
    p.add_argument("--double", type=int, default=62_000, help="solutions labeled by 2 annotators (default 62000)")
    p.add_argument("--single", type=int, default=1_000, help="solutions labeled once so far (default 1000)")
    p.add_argument("--leased", type=int, default=200, help="of the --single ones, with a live second lease")
    p.add_argument("--gold", type=int, default=1_000, help="gold (QC) tasks (default 1000)")
    p.add_argument("--qc-per-gold", type=int, default=5, help="QC labelings per gold task (default 5)")
    p.add_argument("--steps-min", type=int, default=7)
    p.add_argument("--steps-max", type=int, default=11)
    p.add_argument("--days", type=int, default=10, help="submissions spread over this many days (default 10)")
    p.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed() value in [-1, 1]")
    p.add_argument("--explain-top", type=int, default=2, help="EXPLAIN ANALYZE the N slowest queries of each page")
    p.add_argument(
        "--what-if-index",
        action="store_true",
        help="also time overview/annotators with a candidate covering index (created in a rolled-back transaction)",
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        help="before timing, wait up to this many seconds for other processes to use < 0.5 cores (default 0)",
    )
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.double + args.single > args.solutions or args.leased > args.single:
        p.error("need --double + --single <= --solutions and --leased <= --single")
    if not args.db_name.startswith("bench"):
        # --reseed drops this database: never let it name the development or test database.
        p.error("--db-name must start with 'bench'")
    if args.annotators < max(2, args.qc_per_gold):
        p.error("need at least 2 annotators and at least --qc-per-gold")
    return args


def seed_params(args) -> dict:
    keys = (
        "annotators",
        "solutions",
        "double",
        "single",
        "leased",
        "gold",
        "qc_per_gold",
        "steps_min",
        "steps_max",
        "days",
        "seed",
    )
    return {k: getattr(args, k) for k in keys}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- database: must happen before Django is imported --------------------------------------


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def bench_database(*, db_name: str, slug: str, marker: str, want: dict, reseed: bool) -> tuple[str, bool]:
    """Create (or reuse) a benchmark database and point DATABASE_URL at it before Django loads.

    A database whose campaign `slug` carries `marker` + {"params": want} in its description is
    reused; --reseed or other parameters drop and recreate it. Returns (its URL, needs seeding).
    Shared by the benchmarks that seed their own database.
    """
    import psycopg

    os.environ["DJANGO_SETTINGS_MODULE"] = "annotate.settings"
    os.environ["DJANGO_ENV"] = "development"
    # DEBUG off: pages render as in production, and Django keeps no query log outside CaptureQueriesContext.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Nothing here talks to Redis; an unreachable URL keeps the settings from starting the embedded one.
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:9/0")
    sys.path.insert(0, str(REPO))
    base = os.environ.get("DATABASE_URL")
    if not base:
        from annotate import embedded

        base = embedded.postgres_url()
    url = _with_db(base, db_name)
    with psycopg.connect(_with_db(base, "postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
        seeded_with = None
        if exists:
            with psycopg.connect(url, autocommit=True) as c:
                has_table = c.execute("SELECT to_regclass('labeling_campaign') IS NOT NULL").fetchone()[0]
                if has_table:
                    row = c.execute("SELECT description FROM labeling_campaign WHERE slug = %s", [slug]).fetchone()
                    if row and row[0].startswith(marker):
                        seeded_with = json.loads(row[0][len(marker) :])["params"]
        need_seed = reseed or seeded_with != want
        if exists and need_seed:
            why = "--reseed" if reseed else ("no complete seed" if seeded_with is None else "other parameters")
            log(f"dropping database {db_name} ({why})")
            admin.execute(f'DROP DATABASE "{db_name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{db_name}"')
    os.environ["DATABASE_URL"] = url
    return url, need_seed


def prepare_database(args) -> tuple[str, bool]:
    """Create the benchmark database (dropping it for a reseed); returns (its URL, whether it needs seeding)."""
    return bench_database(db_name=args.db_name, slug=SLUG, marker=MARKER, want=seed_params(args),
                          reseed=args.reseed)


# --- seeding: set-based SQL ----------------------------------------------------------------
# Statements are templates filled with integers and floats only (str.format on constants).

SEED_SQL: list[tuple[str, str]] = [
    (
        "annotator users",
        """
INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', now() - interval '1 hour', false, 'bench-ann-' || lpad(g::text, 3, '0'), 'Annotator', g::text,
       'bench-ann-' || g || '@example.invalid', false, true, now() - interval '30 days'
FROM generate_series(1, {annotators}) g
""",
    ),
    (
        "profiles",
        """
INSERT INTO labeling_profile (labeler_uid, is_external, external_source, external_id, user_id)
SELECT gen_random_uuid(), false, '', '', id FROM auth_user WHERE starts_with(username, 'bench-ann-')
""",
    ),
    (
        "annotator index",
        """
CREATE TEMP TABLE bench_ann ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, id AS user_id
FROM auth_user WHERE starts_with(username, 'bench-ann-');
CREATE UNIQUE INDEX ON bench_ann (idx)
""",
    ),
    (
        "memberships",
        """
INSERT INTO labeling_membership (role, status, status_reason, status_changed_at, status_changed_by_id,
                                 can_adjudicate, created_at, campaign_id, user_id)
SELECT 'annotator', 'active', '', NULL::timestamptz, NULL::int, false, now() - interval '30 days', {campaign}, user_id
FROM bench_ann
UNION ALL
SELECT 'manager', 'active', '', NULL, NULL, true, now() - interval '30 days', {campaign}, {manager}
""",
    ),
    (
        "problems",
        """
INSERT INTO labeling_problem (source, source_id, text, ground_truth_answer, ground_truth_solution, subject, level,
                              metadata, created_at)
SELECT 'bench', 'bench-' || g,
       'Benchmark problem ' || g || ': compute ' || (17 + mod(g, 83)) || ' + ' || (3 + mod(g, 29)) || ' * '
         || (2 + mod(g, 7)) || '.',
       ((17 + mod(g, 83)) + (3 + mod(g, 29)) * (2 + mod(g, 7)))::text, '',
       (ARRAY['algebra', 'geometry', 'number theory', 'counting', 'precalculus'])[1 + mod(g, 5)],
       'Level ' || (1 + mod(g, 5)), jsonb_build_object(), now() - interval '20 days'
FROM generate_series(1, {problems}) g
""",
    ),
    # 4 solutions per problem; the last `gold` of them become gold items (half of those wrong, 30% of the rest).
    (
        "solutions",
        """
INSERT INTO labeling_solution (generator, content_hash, final_answer, answer_is_correct, grader_version, generation,
                               pre_generated_verifier_score, metadata, created_at, problem_id)
SELECT 'bench-synthetic', md5(x.problem_id || ':' || x.k),
       CASE WHEN x.wrong THEN (x.truth::int + 1 + mod(x.rn, 9))::text ELSE x.truth END,
       NOT x.wrong, 'bench', NULL, NULL, jsonb_build_object(), now() - interval '20 days', x.problem_id
FROM (
  SELECT y.*, random() < CASE WHEN y.rn > {solutions} THEN 0.5 ELSE 0.3 END AS wrong
  FROM (
    SELECT p.id AS problem_id, p.ground_truth_answer AS truth, k, row_number() OVER (ORDER BY p.id, k) AS rn
    FROM labeling_problem p CROSS JOIN generate_series(1, 4) k WHERE p.source = 'bench'
  ) y WHERE y.rn <= {total_solutions}
) x ORDER BY x.rn
""",
    ),
    # Per solution: step count, true first error (wrong ones: in the second half), category, two annotators
    # (a0 skewed towards low indices so that workloads differ, a1 any other one).
    (
        "solution plan",
        """
CREATE TEMP TABLE bench_sol ON COMMIT DROP AS
SELECT s.id AS solution_id, (row_number() OVER (ORDER BY s.id))::int AS k, NOT s.answer_is_correct AS wrong,
       ({steps_min} + floor(random() * ({steps_max} - {steps_min} + 1)))::int AS n_steps,
       NULL::int AS true_fe, ''::text AS cat, floor({annotators} * power(random(), 1.4))::int AS a0, 0 AS a1
FROM labeling_solution s JOIN labeling_problem p ON p.id = s.problem_id WHERE p.source = 'bench';
UPDATE bench_sol SET
  true_fe = CASE WHEN wrong THEN (n_steps / 2 + floor(random() * (n_steps - n_steps / 2)))::int END,
  a1 = mod(a0 + 1 + floor(random() * ({annotators} - 1))::int, {annotators}),
  cat = CASE WHEN k > {solutions} THEN 'gold' WHEN k <= {double} THEN 'double'
             WHEN k <= {double} + {leased} THEN 'leased' WHEN k <= {double} + {single} THEN 'single'
             ELSE 'open' END;
CREATE UNIQUE INDEX ON bench_sol (solution_id);
ANALYZE bench_sol
""",
    ),
    (
        "steps",
        """
INSERT INTO labeling_step (index, text, solution_id)
SELECT i, 'Step ' || (i + 1) || ': we rewrite the expression and substitute the value found above, which gives '
          || (b.k * 7 + i * 13) || ' so far.', b.solution_id
FROM bench_sol b CROSS JOIN LATERAL generate_series(0, b.n_steps - 1) i
ORDER BY b.solution_id, i
""",
    ),
    # Counters as the assignment service keeps them: gold tasks stay open, work tasks close at taken = overlap (2).
    (
        "tasks",
        """
INSERT INTO labeling_task (priority, is_gold, is_screening, queue_strategy, queue_model_version, queue_score,
                           queue_rank, queue_generation, queued_at, taken, completed, is_open, created_at,
                           campaign_id, solution_id)
SELECT round(random()::numeric, 4)::float, b.cat = 'gold', false,
       CASE WHEN b.cat = 'gold' THEN 'gold' WHEN mod(b.k, 4) = 0 THEN 'convincing_wrong'
            WHEN mod(b.k, 4) = 1 THEN 'uniform' ELSE 'import' END,
       CASE WHEN b.cat <> 'gold' AND mod(b.k, 4) IN (0, 1) THEN (1 + mod(b.k, 3))::text ELSE '' END,
       NULL, NULL,
       CASE WHEN b.cat <> 'gold' AND mod(b.k, 4) IN (0, 1) THEN 1 + mod(b.k, 3) END,
       now() - interval '20 days', c.taken, c.completed, b.cat = 'gold' OR c.taken < 2,
       now() - interval '20 days', {campaign}, b.solution_id
FROM bench_sol b CROSS JOIN LATERAL (
  SELECT CASE b.cat WHEN 'gold' THEN {qc_per_gold} WHEN 'double' THEN 2 WHEN 'leased' THEN 2
                    WHEN 'single' THEN 1 ELSE 0 END AS taken,
         CASE b.cat WHEN 'gold' THEN {qc_per_gold} WHEN 'double' THEN 2 WHEN 'leased' THEN 1
                    WHEN 'single' THEN 1 ELSE 0 END AS completed
) c
ORDER BY b.solution_id
""",
    ),
    (
        "assignment slots",
        """
CREATE TEMP TABLE bench_slot ON COMMIT DROP AS
SELECT x.*, random() AS u1, random() AS u2, random() AS u3, random() AS u4, random() AS u5, random() AS u6
FROM (
  SELECT b.solution_id, b.n_steps, b.true_fe, false AS is_qc, b.a0 AS ann, 'submitted' AS status
  FROM bench_sol b WHERE b.cat IN ('double', 'leased', 'single')
  UNION ALL
  SELECT b.solution_id, b.n_steps, b.true_fe, false, b.a1, 'submitted' FROM bench_sol b WHERE b.cat = 'double'
  UNION ALL
  SELECT b.solution_id, b.n_steps, b.true_fe, false, b.a1, 'leased' FROM bench_sol b WHERE b.cat = 'leased'
  UNION ALL
  SELECT b.solution_id, b.n_steps, b.true_fe, true, mod(b.a0 + j * ({annotators} / {qc_per_gold}), {annotators}),
         'submitted'
  FROM bench_sol b CROSS JOIN generate_series(0, {qc_per_gold} - 1) j WHERE b.cat = 'gold'
) x
""",
    ),
    # Outcome of each labeling: 1.5% give up, 0.5% bad problem, else scored. A scored labeling finds the true
    # first error (or none) unless it deviates (1.7% of work labelings, 12% of QC ones): a false alarm, a miss,
    # or one step off. Ratings: +1, 6% neutral, -1 at the first error where the labeling stops.
    (
        "assignment plan",
        """
CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
SELECT z.*, ARRAY(
         SELECT (CASE WHEN i = z.fe THEN -1 WHEN random() < 0.06 THEN 0 ELSE 1 END)::smallint
         FROM generate_series(0, z.n_labels - 1) i ORDER BY i) AS ratings
FROM (
  SELECT y.*,
         CASE y.reason WHEN 'solution' THEN y.n_steps WHEN 'found_error' THEN y.fe + 1
                       WHEN 'give_up' THEN 1 + floor(y.u3 * (y.n_steps - 1))::int ELSE 0 END AS n_labels
  FROM (
    SELECT w.*,
           CASE WHEN w.status = 'leased' THEN NULL WHEN w.u1 < 0.015 THEN 'give_up'
                WHEN w.u1 < 0.02 THEN 'bad_problem' WHEN w.fe_scored IS NOT NULL THEN 'found_error'
                ELSE 'solution' END AS reason,
           CASE WHEN w.status = 'submitted' AND w.u1 >= 0.02 THEN w.fe_scored END AS fe
    FROM (
      SELECT s.*, ann.user_id AS annotator_id, t.id AS task_id, t.queue_strategy, t.queue_model_version,
             t.queue_generation,
             CASE WHEN s.u2 >= CASE WHEN s.is_qc THEN 0.12 ELSE 0.017 END THEN s.true_fe
                  WHEN s.true_fe IS NULL THEN floor(s.u3 * s.n_steps)::int
                  WHEN s.u3 < 0.5 THEN NULL
                  WHEN s.u3 < 0.75 THEN greatest(0, s.true_fe - 1)
                  ELSE least(s.n_steps - 1, s.true_fe + 1) END AS fe_scored
      FROM bench_slot s
      JOIN bench_ann ann ON ann.idx = s.ann
      JOIN labeling_task t ON t.campaign_id = {campaign} AND t.solution_id = s.solution_id
    ) w
  ) y
) z
""",
    ),
    (
        "assignment times",
        """
ALTER TABLE bench_plan ADD COLUMN submitted_at timestamptz, ADD COLUMN active_ms bigint,
  ADD COLUMN leased_at timestamptz;
UPDATE bench_plan SET
  submitted_at = CASE WHEN status = 'submitted' THEN now() - u4 * interval '{days} days' END,
  active_ms = CASE WHEN status = 'leased' THEN 0
                   ELSE round(greatest(n_labels, 1) * (6000 + 54000 * u5 * u5))::bigint END;
UPDATE bench_plan SET leased_at = CASE WHEN status = 'submitted'
                                      THEN submitted_at - (active_ms + 30000) * interval '1 millisecond'
                                      ELSE now() - u4 * interval '20 minutes' END;
CREATE UNIQUE INDEX ON bench_plan (task_id, annotator_id);
ANALYZE bench_plan
""",
    ),
    # Summary columns computed from the very ratings array the step labels are inserted from.
    (
        "assignments",
        """
INSERT INTO labeling_assignment (status, source, leased_at, lease_expires_at, submitted_at, active_ms, finish_reason,
                                 finish_note, queue_strategy, queue_model_version, queue_score, queue_generation,
                                 is_quality_control, is_screening, submission_id, extra, created_at, updated_at,
                                 annotator_id, campaign_id, solution_id, task_id, rated_steps, positive_steps,
                                 neutral_steps, negative_steps, first_error_index, prelabel_source)
SELECT p.status, 'native', p.leased_at, p.leased_at + interval '30 minutes', p.submitted_at, p.active_ms, p.reason,
       CASE WHEN p.reason = 'bad_problem' THEN 'The problem statement is ambiguous.' ELSE '' END,
       p.queue_strategy, p.queue_model_version, NULL, p.queue_generation, p.is_qc, p.is_qc AND p.u6 < 0.1,
       CASE WHEN p.status = 'submitted' THEN gen_random_uuid() END, jsonb_build_object(),
       p.leased_at, coalesce(p.submitted_at, p.leased_at), p.annotator_id, {campaign}, p.solution_id, p.task_id,
       cardinality(p.ratings), cardinality(array_positions(p.ratings, 1::smallint)),
       cardinality(array_positions(p.ratings, 0::smallint)), cardinality(array_positions(p.ratings, -1::smallint)),
       array_position(p.ratings, -1::smallint) - 1, ''::varchar
FROM bench_plan p
ORDER BY coalesce(p.submitted_at, p.leased_at)
""",
    ),
    (
        "step labels",
        """
INSERT INTO labeling_steplabel (rating, flagged, chosen_completion, final, labeled_at, assignment_id, step_id,
                                critique, error_types)
SELECT r.rating, false, NULL, true, a.submitted_at, a.id, st.id, '', ARRAY[]::varchar[]
FROM bench_plan p
JOIN labeling_assignment a ON a.task_id = p.task_id AND a.annotator_id = p.annotator_id
CROSS JOIN LATERAL unnest(p.ratings) WITH ORDINALITY AS r(rating, ord)
JOIN labeling_step st ON st.solution_id = p.solution_id AND st.index = r.ord - 1
ORDER BY a.id, r.ord
""",
    ),
    (
        "gold step labels",
        """
INSERT INTO labeling_goldsteplabel (rating, note, created_at, created_by_id, solution_id, step_id, error_types)
SELECT CASE WHEN st.index = b.true_fe THEN -1 ELSE 1 END, '', now() - interval '15 days', {manager}, b.solution_id,
       st.id, ARRAY[]::varchar[]
FROM bench_sol b JOIN labeling_step st ON st.solution_id = b.solution_id
WHERE b.cat = 'gold' AND (b.true_fe IS NULL OR st.index <= b.true_fe)
ORDER BY b.solution_id, st.index
""",
    ),
    # Fresh statistics for the big tables, so the planner joins them sensibly in the statements below.
    (
        "analyze",
        """
ANALYZE labeling_step; ANALYZE labeling_assignment; ANALYZE labeling_steplabel; ANALYZE labeling_goldsteplabel
""",
    ),
    # labeling.quality.metrics.gold_compare in SQL, for every scored (solution / found_error) QC labeling.
    (
        "gold scores",
        """
INSERT INTO labeling_goldscore (is_screening, compared, matches, misses, gold_negatives, false_alarms, gold_fine,
                                first_error_exact, first_error_within_one, gold_first_error, label_first_error,
                                created_at, annotator_id, assignment_id, campaign_id)
SELECT a.is_screening, c.compared, c.matches, c.misses, c.gold_negatives, c.false_alarms, c.gold_fine,
       g.fe IS NOT DISTINCT FROM a.first_error_index,
       CASE WHEN g.fe IS NULL OR a.first_error_index IS NULL THEN g.fe IS NULL AND a.first_error_index IS NULL
            ELSE abs(g.fe - a.first_error_index) <= 1 END,
       g.fe, a.first_error_index, a.submitted_at, a.annotator_id, a.id, {campaign}
FROM labeling_assignment a
JOIN (
  SELECT gl.solution_id, min(st.index) FILTER (WHERE gl.rating = -1) AS fe
  FROM labeling_goldsteplabel gl JOIN labeling_step st ON st.id = gl.step_id GROUP BY gl.solution_id
) g ON g.solution_id = a.solution_id
CROSS JOIN LATERAL (
  SELECT count(*) AS compared, count(*) FILTER (WHERE gl.rating = l.rating) AS matches,
         count(*) FILTER (WHERE gl.rating = -1 AND l.rating <> -1) AS misses,
         count(*) FILTER (WHERE gl.rating = -1) AS gold_negatives,
         count(*) FILTER (WHERE gl.rating <> -1 AND l.rating = -1) AS false_alarms,
         count(*) FILTER (WHERE gl.rating <> -1) AS gold_fine
  FROM labeling_steplabel l JOIN labeling_goldsteplabel gl ON gl.step_id = l.step_id
  WHERE l.assignment_id = a.id AND l.rating IS NOT NULL
) c
WHERE a.campaign_id = {campaign} AND a.is_quality_control AND a.status = 'submitted'
  AND a.finish_reason IN ('solution', 'found_error')
ORDER BY a.submitted_at
""",
    ),
    # labeling.services.adjudication.DISAGREEMENTS_SQL, stored in the format adjudications_sync writes
    # (sorted indices, null last); a quarter resolved by the manager with the lower first error.
    (
        "adjudications",
        """
INSERT INTO labeling_adjudication (status, first_errors, label_count, ratings, first_error_index, note, resolved_at,
                                   created_at, campaign_id, resolved_by_id, solution_id)
SELECT 'open', d.fes, d.n, NULL, NULL, '', NULL, d.last_at, {campaign}, NULL, d.solution_id
FROM (
  SELECT a.solution_id, count(*) AS n, max(a.submitted_at) AS last_at,
         jsonb_agg(DISTINCT a.first_error_index ORDER BY a.first_error_index) AS fes
  FROM labeling_assignment a JOIN labeling_task t ON t.id = a.task_id
  WHERE a.campaign_id = {campaign} AND a.status = 'submitted' AND NOT t.is_gold
    AND a.finish_reason IN ('solution', 'found_error')
  GROUP BY a.solution_id
  HAVING count(*) >= 2 AND count(DISTINCT coalesce(a.first_error_index, -1)) > 1
) d ORDER BY d.last_at;
UPDATE labeling_adjudication j SET
  status = 'resolved', first_error_index = (j.first_errors ->> 0)::int, note = 'bench resolution',
  resolved_by_id = {manager}, resolved_at = least(now(), j.created_at + interval '2 hours'),
  ratings = (SELECT jsonb_agg(CASE WHEN (j.first_errors ->> 0) IS NULL OR st.index < (j.first_errors ->> 0)::int
                                   THEN 1 WHEN st.index = (j.first_errors ->> 0)::int THEN -1 END ORDER BY st.index)
             FROM labeling_step st WHERE st.solution_id = j.solution_id)
WHERE j.campaign_id = {campaign} AND mod(j.id, 4) = 0
""",
    ),
]


def _orm_extras(campaign, manager, label_total: int) -> None:
    """A handful of PRM models, training runs and jobs (a few rows: the ORM is fine here)."""
    from datetime import timedelta

    from django.utils import timezone

    from active_learning.models import PRMModel, TrainingRun
    from labeling.models import Job

    now = timezone.now()
    for v in range(1, 6):
        labels = label_total * v // 6
        metrics = {
            "step_auroc": round(0.62 + 0.04 * v, 3),
            "first_error_f1": round(0.35 + 0.05 * v, 3),
            "solution_auroc": round(0.6 + 0.035 * v, 3),
            "best_of_n": {"prm": round(0.5 + 0.03 * v, 3), "majority": 0.58, "random": 0.41},
        }
        model = PRMModel.objects.create(
            campaign=campaign,
            version=v,
            is_active=v == 5,
            backbone="sentence-transformers/all-MiniLM-L6-v2",
            checkpoint_path=f"/nonexistent/bench/v{v}",
            metrics=metrics,
            label_count=labels,
        )
        started = now - timedelta(days=6 - v, minutes=20)
        TrainingRun.objects.create(
            campaign=campaign,
            status=TrainingRun.Status.SUCCEEDED,
            stage=TrainingRun.Stage.DONE,
            trigger=TrainingRun.Trigger.SCHEDULE,
            requested_by=manager,
            label_count=labels,
            model=model,
            promoted=True,
            metrics=metrics,
            report={"train_s": 600, "score_s": 420, "refill_s": 2},
            started_at=started,
            finished_at=started + timedelta(minutes=17),
        )
    TrainingRun.objects.create(
        campaign=campaign,
        status=TrainingRun.Status.FAILED,
        stage=TrainingRun.Stage.TRAINING,
        trigger=TrainingRun.Trigger.MANUAL,
        requested_by=manager,
        label_count=label_total,
        error="bench: worker lost",
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=2),
    )
    for kind in (Job.Kind.IMPORT, Job.Kind.EXPORT):
        for i in range(3):
            Job.objects.create(
                kind=kind,
                status=Job.Status.SUCCEEDED,
                campaign=campaign,
                created_by=manager,
                params={"format": "prm800k"},
                progress_done=1000 * (i + 1),
                progress_total=1000 * (i + 1),
                result={"summary": f"bench {kind} {i}", "rows": 1000 * (i + 1)},
                started_at=now - timedelta(days=i + 1),
                finished_at=now - timedelta(days=i + 1) + timedelta(minutes=2),
            )


def seed(args) -> dict:
    """Everything in one transaction: a crash leaves no half seed (the marker is written last)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from labeling.models import Assignment, Campaign, Profile

    params = seed_params(args)
    fill = {
        "annotators": args.annotators,
        "solutions": args.solutions,
        "double": args.double,
        "single": args.single,
        "leased": args.leased,
        "gold": args.gold,
        "qc_per_gold": args.qc_per_gold,
        "steps_min": args.steps_min,
        "steps_max": args.steps_max,
        "days": args.days,
        "total_solutions": args.solutions + args.gold,
        "problems": math.ceil((args.solutions + args.gold) / 4),
    }
    steps = []
    t_all = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '256MB'")
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute("SELECT setseed(%s)", [args.seed])
        # No password argument: an unusable one; the benchmark logs in with force_login.
        manager = get_user_model().objects.create_user(
            username=MANAGER, first_name="Bench", last_name="Manager", email="bench-manager@example.invalid"
        )
        Profile.objects.create(user=manager)
        campaign = Campaign.objects.create(
            slug=SLUG,
            name="Dashboard benchmark",
            description="(seeding)",
            overlap=2,
            mode="first_error",
            qc_rate=0.05,
            created_by=manager,
        )
        fill |= {"campaign": int(campaign.pk), "manager": int(manager.pk)}
        for label, template in SEED_SQL:
            t0 = time.perf_counter()
            rows = 0
            sql = template.format(**fill)
            for stmt in (s.strip() for s in sql.split(";")):
                if stmt:
                    cur.execute(stmt)
                    rows = cur.rowcount if cur.rowcount is not None and cur.rowcount >= 0 else rows
            dt = time.perf_counter() - t0
            steps.append({"step": label, "seconds": round(dt, 2), "rows": rows})
            log(f"  seed {label:<18} {rows:>9} rows  {dt:6.1f} s")
        label_total = Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED).count()
        _orm_extras(campaign, manager, label_total)
        campaign.description = MARKER + json.dumps({"params": params, "seconds": None, "steps": steps})
        campaign.save(update_fields=["description"])
        t_commit = time.perf_counter()
    # The commit runs Django's deferred foreign-key checks over every inserted row.
    commit_s = round(time.perf_counter() - t_commit, 1)
    seconds = round(time.perf_counter() - t_all, 1)
    info = {"params": params, "seconds": seconds, "commit_seconds": commit_s, "steps": steps, "seeded_at": time.time()}
    Campaign.objects.filter(pk=campaign.pk).update(description=MARKER + json.dumps(info))
    log(f"seeded in {seconds} s (one transaction; its commit, with the deferred foreign-key checks, {commit_s} s)")
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")
    vac = round(time.perf_counter() - t0, 1)
    log(f"VACUUM ANALYZE in {vac} s")
    return {"seeded_now": True, **info, "vacuum_analyze_seconds": vac}


# --- checks and sizes ----------------------------------------------------------------------

CHECK_SUMMARIES_SQL = """
SELECT count(*) FROM labeling_assignment a
LEFT JOIN (
  SELECT l.assignment_id, count(l.rating) AS rated, count(*) FILTER (WHERE l.rating = 1) AS pos,
         count(*) FILTER (WHERE l.rating = 0) AS neu, count(*) FILTER (WHERE l.rating = -1) AS neg,
         min(s.index) FILTER (WHERE l.rating = -1) AS fe
  FROM labeling_steplabel l JOIN labeling_step s ON s.id = l.step_id GROUP BY l.assignment_id
) c ON c.assignment_id = a.id
WHERE a.campaign_id = %s AND (a.rated_steps <> coalesce(c.rated, 0) OR a.positive_steps <> coalesce(c.pos, 0)
  OR a.neutral_steps <> coalesce(c.neu, 0) OR a.negative_steps <> coalesce(c.neg, 0)
  OR a.first_error_index IS DISTINCT FROM c.fe)
"""

CHECK_TASKS_SQL = """
SELECT count(*) FROM labeling_task t
LEFT JOIN (
  SELECT task_id, count(*) FILTER (WHERE status IN ('leased', 'submitted')) AS taken,
         count(*) FILTER (WHERE status = 'submitted') AS completed
  FROM labeling_assignment GROUP BY task_id
) c ON c.task_id = t.id
WHERE t.campaign_id = %s AND (t.taken <> coalesce(c.taken, 0) OR t.completed <> coalesce(c.completed, 0)
  OR t.is_open <> (t.is_gold OR t.taken < 2))
"""


def seed_checks(campaign) -> dict:
    from django.db import connection, transaction

    from labeling.services.adjudication import adjudications_sync

    out = {}
    with connection.cursor() as cur:
        cur.execute(CHECK_SUMMARIES_SQL, [campaign.pk])
        out["assignments_with_wrong_summary"] = cur.fetchone()[0]
        cur.execute(CHECK_TASKS_SQL, [campaign.pk])
        out["tasks_with_wrong_counters"] = cur.fetchone()[0]
    with transaction.atomic():
        out["adjudications_sync_new"] = adjudications_sync(campaign=campaign)
        transaction.set_rollback(True)
    out["ok"] = not any(out.values())
    return out


def dataset_sizes(campaign) -> dict:
    from django.db import connection
    from django.db.models import Count

    from active_learning.models import PRMModel, TrainingRun
    from labeling.models import (
        Adjudication,
        Assignment,
        GoldScore,
        GoldStepLabel,
        Membership,
        Problem,
        Solution,
        Step,
        StepLabel,
        Task,
    )

    tasks = Task.objects.filter(campaign=campaign)
    subs = Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED)
    sizes = {
        "annotators": Membership.objects.filter(campaign=campaign, role="annotator").count(),
        "managers": Membership.objects.filter(campaign=campaign, role="manager").count(),
        "problems": Problem.objects.count(),
        "solutions": Solution.objects.count(),
        "steps": Step.objects.count(),
        "tasks": tasks.count(),
        "gold_tasks": tasks.filter(is_gold=True).count(),
        "open_work_tasks": tasks.filter(is_gold=False, is_open=True).count(),
        "assignments_by_status": dict(
            Assignment.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id"))
        ),
        "submitted_assignments": subs.count(),
        "submitted_qc_assignments": subs.filter(is_quality_control=True).count(),
        "finish_reasons": dict(subs.values_list("finish_reason").annotate(n=Count("id"))),
        "step_labels": StepLabel.objects.filter(assignment__campaign=campaign).count(),
        "step_labels_by_rating": {
            str(k): v for k, v in StepLabel.objects.values_list("rating").annotate(n=Count("id")).order_by("rating")
        },
        "gold_step_labels": GoldStepLabel.objects.count(),
        "gold_scores": GoldScore.objects.filter(campaign=campaign).count(),
        "adjudications_by_status": dict(
            Adjudication.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id"))
        ),
        "prm_models": PRMModel.objects.filter(campaign=campaign).count(),
        "training_runs": TrainingRun.objects.filter(campaign=campaign).count(),
    }
    with connection.cursor() as cur:
        cur.execute(
            """SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class
               WHERE relname IN ('labeling_steplabel', 'labeling_assignment', 'labeling_step', 'labeling_task')
               ORDER BY relname"""
        )
        sizes["table_sizes"] = dict(cur.fetchall())
        cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        sizes["database_size"] = cur.fetchone()[0]
    return sizes


# --- timing --------------------------------------------------------------------------------


def pct(sorted_vals: list[float], p: float) -> float:
    k = max(0, math.ceil(p / 100 * len(sorted_vals)) - 1)
    return sorted_vals[k]


def stats(ms: list[float]) -> dict:
    s = sorted(ms)
    return {
        "runs": len(s),
        "median_ms": round(statistics.median(s), 1),
        "p95_ms": round(pct(s, 95), 1),
        "min_ms": round(s[0], 1),
        "max_ms": round(s[-1], 1),
        "mean_ms": round(statistics.fmean(s), 1),
        "all_ms": [round(v, 1) for v in ms],
    }


class Capture:
    """CaptureQueriesContext (the statement count and the SQL as sent) plus a perf_counter timer per statement.

    Django rounds captured times to whole milliseconds; the execute wrapper keeps microseconds.
    """

    def __init__(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.connection = connection
        self.ctx = CaptureQueriesContext(connection)
        self.times: list[float] = []
        self._wrap = None

    def _timer(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.times.append((time.perf_counter() - t0) * 1000)

    def __enter__(self):
        self.ctx.__enter__()
        self._wrap = self.connection.execute_wrapper(self._timer)
        self._wrap.__enter__()
        return self

    def __exit__(self, *exc):
        self._wrap.__exit__(*exc)
        return self.ctx.__exit__(*exc)

    def summary(self) -> tuple[int, float, list[dict]]:
        """(statements, total SQL ms, statements slowest first)."""
        captured = self.ctx.captured_queries
        if len(captured) == len(self.times):
            qs = [{"ms": round(t, 2), "sql": q["sql"].strip()} for q, t in zip(captured, self.times, strict=True)]
        else:  # not expected; fall back to Django's millisecond figures
            qs = [{"ms": round(float(q["time"]) * 1000, 2), "sql": q["sql"].strip()} for q in captured]
        return len(qs), round(sum(q["ms"] for q in qs), 1), sorted(qs, key=lambda q: -q["ms"])


CLK_TCK = os.sysconf("SC_CLK_TCK")


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def proc_cpu_ms(pid: int) -> float | None:
    """utime + stime of a process (the PostgreSQL backend is on this machine), in ms; None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK_TCK


def time_runs(fn, runs: int) -> tuple[list[float], dict]:
    """Wall ms of each call, and the mean CPU ms per call of this process and of its PostgreSQL backend.

    CPU time hardly depends on other load on the machine, unlike wall time; PostgreSQL's parallel workers
    are other processes and are not counted.
    """
    pid = backend_pid()
    app0, db0 = time.process_time(), proc_cpu_ms(pid)
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    app1, db1 = time.process_time(), proc_cpu_ms(pid)
    same = backend_pid() == pid
    cpu = {
        "cpu_ms_app": round((app1 - app0) * 1000 / runs, 1),
        "cpu_ms_db": round((db1 - db0) / runs, 1) if same and db0 is not None and db1 is not None else None,
    }
    return ms, cpu


def time_page(client, url: str, runs: int) -> dict:
    with Capture() as cap:
        t0 = time.perf_counter()
        resp = client.get(url)
        warm = (time.perf_counter() - t0) * 1000
    if resp.status_code != 200:
        raise RuntimeError(f"GET {url} -> {resp.status_code}")
    n, sql_ms, queries = cap.summary()

    def get():
        r = client.get(url)
        assert r.status_code == 200, r.status_code

    ms, cpu = time_runs(get, runs)
    return {
        "url": url,
        "status": resp.status_code,
        "bytes": len(resp.content),
        "warmup_ms": round(warm, 1),
        "queries": n,
        "sql_ms_warmup": sql_ms,
        **stats(ms),
        **cpu,
        "meets_target": pct(sorted(ms), 95) < TARGET_MS,
        "slowest_queries": queries[:5],
    }


def time_callable(fn, runs: int) -> dict:
    with Capture() as cap:
        fn()
    n, sql_ms, queries = cap.summary()
    ms, cpu = time_runs(fn, runs)
    return {"queries": n, "sql_ms_warmup": sql_ms, **stats(ms), **cpu, "slowest_queries": queries[:5]}


# A candidate index (not in the models): the partial index on submitted assignments by campaign and annotator,
# widened with the columns the dashboard aggregates, so that those aggregates read the index (index-only scan)
# instead of visiting every heap row in annotator order.
WHAT_IF_INDEX = """
CREATE INDEX bench_whatif_assignment_cover ON labeling_assignment (campaign_id, annotator_id, submitted_at)
INCLUDE (id, active_ms, finish_reason, rated_steps, positive_steps, neutral_steps, negative_steps, first_error_index)
WHERE status = 'submitted'
"""


def what_if(client, pages: dict, campaign, runs: int) -> dict:
    """Time the heavy pages again with WHAT_IF_INDEX, inside a transaction that is rolled back."""
    from django.db import connection, transaction

    from labeling.dashboard import selectors as sel

    out: dict = {"index": " ".join(WHAT_IF_INDEX.split())}
    # First, no index: the overview with PostgreSQL 16's presorted aggregates off. The COUNT(DISTINCT annotator)
    # in overview()'s big aggregate makes the planner walk assignment_campaign_user_idx in annotator order
    # (a heap visit per row) instead of one sequential scan.
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL enable_presorted_aggregate = off")
        r = time_page(client, pages["overview"], runs)
        out["overview, enable_presorted_aggregate off, no index"] = {
            k: r[k] for k in ("median_ms", "p95_ms", "queries", "sql_ms_warmup")
        }
        transaction.set_rollback(True)
    with transaction.atomic():
        with connection.cursor() as cur:
            t0 = time.perf_counter()
            cur.execute(WHAT_IF_INDEX)
            out["build_seconds"] = round(time.perf_counter() - t0, 2)
            cur.execute("ANALYZE labeling_assignment")
            cur.execute("SELECT pg_size_pretty(pg_relation_size('bench_whatif_assignment_cover'))")
            out["index_size"] = cur.fetchone()[0]
        for name in ("overview", "annotators", "overview.json"):
            r = time_page(client, pages[name], runs)
            out[name] = {k: r[k] for k in ("median_ms", "p95_ms", "queries", "sql_ms_warmup")}
            out[name]["slowest_queries"] = [
                {"ms": q["ms"], "sql": " ".join(q["sql"].split())[:160]} for q in r["slowest_queries"][:3]
            ]
        for name, fn in (("selector overview", sel.overview), ("selector annotator_rows", sel.annotator_rows)):
            r = time_callable(lambda fn=fn: fn(campaign=campaign), runs)
            out[name] = {k: r[k] for k in ("median_ms", "p95_ms", "queries", "sql_ms_warmup")}
        out["plans"] = {
            name: explain(result_sql)
            for name, result_sql in (
                ("overview aggregate", pages["_overview_aggregate_sql"]),
                ("annotator rows", pages["_annotator_sql"]),
            )
            if result_sql
        }
        transaction.set_rollback(True)
    return out


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def explain(sql: str) -> str:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(r[0] for r in cur.fetchall())
        transaction.set_rollback(True)
    return plan


def wait_idle(max_s: float, below_cores: float = 0.5) -> dict:
    """Wait (up to max_s) until the rest of the machine uses less than `below_cores` over a 3 s sample."""
    ncpu = os.cpu_count() or 1
    t_start = time.monotonic()
    while True:
        b0, t0 = cpu_times()
        time.sleep(3)
        b1, t1 = cpu_times()
        busy = (b1 - b0) / max(1, t1 - t0) * ncpu
        waited = time.monotonic() - t_start
        if busy < below_cores or waited >= max_s:
            return {"waited_s": round(waited, 1), "busy_cores_when_started": round(busy, 2), "idle": busy < below_cores}
        log(f"machine busy ({busy:.2f} cores used by other processes); waiting for it to calm down")


# --- machine ---------------------------------------------------------------------------------


def machine_info() -> dict:
    from django.db import connection

    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    pg = {}
    with connection.cursor() as cur:
        cur.execute("SELECT version()")
        pg["version"] = cur.fetchone()[0]
        for name in (
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "random_page_cost",
            "jit",
            "max_parallel_workers_per_gather",
        ):
            cur.execute(f"SHOW {name}")
            pg[name] = cur.fetchone()[0]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "postgres": pg,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def git_info() -> dict:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty_files": git("status", "--porcelain").splitlines()}


# --- main ------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message="No directory at")
    started = time.perf_counter()
    db_url, need_seed = prepare_database(args)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from labeling.dashboard import selectors as sel
    from labeling.models import Campaign
    from labeling.services.agreement import agreement_refresh

    assert settings.DATABASES["default"]["NAME"] == args.db_name, settings.DATABASES["default"]["NAME"]
    result: dict = {
        "benchmark": "manager dashboard",
        "target_ms": TARGET_MS,
        "command": " ".join([".venv/bin/python", "bench/bench_dashboard.py", *sys.argv[1:]]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "database": args.db_name,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine_info(),
        "git": git_info(),
    }
    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    log(f"database {args.db_name} migrated in {time.perf_counter() - t0:.1f} s")

    if need_seed:
        log("seeding (set-based SQL, one transaction)")
        result["seed"] = seed(args)
    else:
        desc = Campaign.objects.get(slug=SLUG).description
        result["seed"] = {"seeded_now": False, **json.loads(desc[len(MARKER) :])}
        age_h = (time.time() - result["seed"].get("seeded_at", 0)) / 3600
        result["seed"]["age_hours"] = round(age_h, 1)
        log(f"reusing the seed in {args.db_name} (took {result['seed']['seconds']} s when made; --reseed to redo)")
        if age_h > 12:
            # Submissions are spread over the days before the seed: "today" and "last hour" empty out with age.
            log(f"WARNING: the seed is {age_h:.0f} h old; time-window figures shrink with age, use --reseed")
    campaign = Campaign.objects.get(slug=SLUG)
    manager = get_user_model().objects.get(username=MANAGER)

    t0 = time.perf_counter()
    result["checks"] = seed_checks(campaign)
    log(f"seed checks {result['checks']} ({time.perf_counter() - t0:.1f} s)")
    result["dataset"] = dataset_sizes(campaign)
    d = result["dataset"]
    log(
        f"dataset: {d['annotators']} annotators, {d['solutions']} solutions, {d['steps']} steps, "
        f"{d['submitted_assignments']} submitted assignments, {d['step_labels']} step labels, "
        f"{d['gold_scores']} gold scores, adjudications {d['adjudications_by_status']}"
    )

    # Agreement: background work, timed on its own, with its SQL statements.
    with Capture() as cap:
        t0 = time.perf_counter()
        snap = agreement_refresh(campaign=campaign)
        agree_s = time.perf_counter() - t0
    _, _, agree_q = cap.summary()
    result["agreement_refresh"] = {
        "seconds": round(agree_s, 2),
        "snapshot_duration_ms": snap.duration_ms,
        "campaign_alpha": snap.data["campaign"]["alpha"],
        "step_units": snap.data["campaign"]["step_units"],
        "pair_count": snap.data["pair_count"],
        "queries": len(agree_q),
        "slowest_queries": [{"ms": q["ms"], "sql": q["sql"][:300]} for q in agree_q[:3]],
    }
    log(
        f"agreement_refresh: {agree_s:.2f} s (alpha {snap.data['campaign']['alpha']}, "
        f"{snap.data['pair_count']} annotator pairs)"
    )

    if args.wait_idle:
        result["wait_idle"] = wait_idle(args.wait_idle)
        log(f"wait for an idle machine: {result['wait_idle']}")
    client = Client()
    client.force_login(manager)
    pages = {
        "overview": reverse("dashboard:overview", kwargs={"slug": SLUG}),
        "annotators": reverse("dashboard:annotators", kwargs={"slug": SLUG}),
        "model": reverse("active_learning:model", kwargs={"slug": SLUG}),
        "adjudication": reverse("dashboard:adjudication", kwargs={"slug": SLUG}),
        "data": reverse("dashboard:data", kwargs={"slug": SLUG}),
        "overview.json": reverse("dashboard:overview-json", kwargs={"slug": SLUG}),
    }
    result["pages"] = {}
    busy0, total0, self0, wall0 = *cpu_times(), time.process_time(), time.perf_counter()
    for name, url in pages.items():
        r = time_page(client, url, args.runs)
        result["pages"][name] = r
        log(
            f"  {name:<13} median {r['median_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  {r['queries']:>3} queries "
            f"(SQL {r['sql_ms_warmup']} ms in the warm-up)"
        )
    result["selectors"] = {
        "overview": time_callable(lambda: sel.overview(campaign=campaign), args.runs),
        "annotator_rows": time_callable(lambda: sel.annotator_rows(campaign=campaign), args.runs),
    }
    for name, r in result["selectors"].items():
        log(f"  selector {name:<14} median {r['median_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  {r['queries']} queries")

    busy1, total1, self1, wall1 = *cpu_times(), time.process_time(), time.perf_counter()
    ncpu = os.cpu_count() or 1
    busy_cores = (busy1 - busy0) / max(1, total1 - total0) * ncpu
    result["timing_window"] = {
        "seconds": round(wall1 - wall0, 1),
        "machine_busy_cores": round(busy_cores, 2),
        "this_process_cores": round((self1 - self0) / (wall1 - wall0), 2),
        "note": "busy cores include this process and its PostgreSQL backend; the rest is other load on the machine",
    }
    log(f"timing window: {result['timing_window']}")

    # Plans of the slowest statements of every page (the evidence for any miss).
    result["explain"] = {}
    for name, r in result["pages"].items():
        plans = []
        for q in r["slowest_queries"][: args.explain_top]:
            if q["sql"].lstrip().upper().startswith("SELECT"):
                plans.append({"ms_in_warmup": q["ms"], "sql": q["sql"], "plan": explain(q["sql"])})
        result["explain"][name] = plans
    if args.what_if_index:

        def find(page: str, marker: str) -> str | None:
            return next((q["sql"] for q in result["pages"][page]["slowest_queries"] if marker in q["sql"]), None)

        extra = {
            "_overview_aggregate_sql": find("overview", "COUNT(DISTINCT"),
            "_annotator_sql": find("annotators", "percentile_cont"),
        }
        result["what_if_index"] = what_if(client, pages | extra, campaign, args.runs)
        w = result["what_if_index"]
        log(
            f"what-if index ({w['index_size']}): overview median {w['overview']['median_ms']} ms, annotators "
            f"{w['annotators']['median_ms']} ms, overview.json {w['overview.json']['median_ms']} ms (rolled back)"
        )
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    result["ok"] = result["checks"]["ok"] and all(r["meets_target"] for r in result["pages"].values())

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    report(result)
    log(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    return 0


def _fmt(v, width: int) -> str:
    return f"{v:>{width}.1f}" if isinstance(v, int | float) else f"{'-':>{width}}"


def report(r: dict) -> None:
    d = r["dataset"]
    print()
    print("=" * 110)
    m = r["machine"]
    print(
        f"machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['postgres']['version'].split(' on ')[0]}, "
        f"load average {m['loadavg_at_start']} -> {m['loadavg_at_end']}"
    )
    w = r["timing_window"]
    print(
        f"timing window: {w['seconds']} s, machine busy {w['machine_busy_cores']} of {m['cpu_count']} cores "
        f"(this process {w['this_process_cores']}, plus its PostgreSQL backend and whatever else runs)"
    )
    print(
        f"dataset: {d['annotators']} annotators, {d['solutions']} solutions, {d['steps']} steps, "
        f"{d['tasks']} tasks ({d['gold_tasks']} gold), {d['submitted_assignments']} submitted assignments, "
        f"{d['step_labels']} step labels, {d['gold_scores']} gold scores, "
        f"adjudications {d['adjudications_by_status']}"
    )
    s = r["seed"]
    print(f"seed: {'made now' if s['seeded_now'] else 'reused'}, {s['seconds']} s; checks: {r['checks']}")
    a = r["agreement_refresh"]
    print(f"agreement_refresh: {a['seconds']} s (background; {a['queries']} queries)")
    print(
        f"{'page':<24}{'median ms':>10}{'p95 ms':>10}{'queries':>9}{'SQL ms':>9}{'CPU app':>9}{'CPU db':>9}"
        f"{'bytes':>9}   p95 < {TARGET_MS:.0f} ms"
    )
    for name, p in r["pages"].items():
        print(
            f"{name:<24}{p['median_ms']:>10.1f}{p['p95_ms']:>10.1f}{p['queries']:>9}{p['sql_ms_warmup']:>9.1f}"
            f"{_fmt(p['cpu_ms_app'], 9)}{_fmt(p['cpu_ms_db'], 9)}{p['bytes']:>9}   "
            f"{'yes' if p['meets_target'] else 'NO'}"
        )
    for name, p in r["selectors"].items():
        print(
            f"{'selector ' + name:<24}{p['median_ms']:>10.1f}{p['p95_ms']:>10.1f}{p['queries']:>9}"
            f"{p['sql_ms_warmup']:>9.1f}{_fmt(p['cpu_ms_app'], 9)}{_fmt(p['cpu_ms_db'], 9)}"
        )
    print("(SQL ms: statement time in the warm-up request; CPU: mean ms per request of this process / its backend)")
    print("slowest query per page (warm-up):")
    for name, p in r["pages"].items():
        q = p["slowest_queries"][0] if p["slowest_queries"] else None
        if q:
            print(f"  {name:<13} {q['ms']:7.1f} ms  {' '.join(q['sql'].split())[:110]}")
    if "what_if_index" in r:
        w = r["what_if_index"]
        print(f"what-if (rolled back): {w['index']}")
        for name in (
            "overview, enable_presorted_aggregate off, no index",
            "overview",
            "annotators",
            "overview.json",
            "selector overview",
            "selector annotator_rows",
        ):
            print(f"  {name:<52} median {w[name]['median_ms']:7.1f} ms  p95 {w[name]['p95_ms']:7.1f} ms")
    print(f"OK: {r['ok']}   wall time {r['wall_seconds']} s")
    print("=" * 110)


if __name__ == "__main__":
    sys.exit(main())
