"""Bulk inserts for imports: COPY into a temporary table, then one INSERT ... SELECT ... RETURNING.

Django's bulk_create builds a model instance and prepares every field of every row in Python,
which was most of a 100k-solution import's time. COPY moves the rows in C; the INSERT ...
SELECT then writes them with the model's constraints and triggers as usual, gives their ids
back in row order, and fills every column the caller does not give with the field's default
(computed once per insert). The temporary table lives until the transaction ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson
from django.db import connection
from django.db.models import JSONField, Model


class CopyInsert:
    """Insert many rows of `model` given as tuples for `columns` (attnames), inside a transaction."""

    def __init__(self, model: type[Model], columns: Sequence[str]):
        self.model = model
        by_name = {f.attname: f for f in model._meta.concrete_fields}
        self.fields = [by_name[c] for c in columns]
        self.json = [isinstance(f, JSONField) for f in self.fields]
        self.rest = [f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in columns]
        self.tmp = f"tmp_copy_{uuid.uuid4().hex[:12]}"
        cols = ", ".join(f"{f.column} {f.db_type(connection)}" for f in self.fields)
        with connection.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE {self.tmp} (ord integer, {cols}) ON COMMIT DROP")

    def insert(self, rows: Sequence[tuple], *, returning: Sequence[str] = ("id",)) -> list[tuple]:
        """Insert `rows`; returns the `returning` columns of the new rows (match them by a key the
        caller gave, e.g. a unique one, rather than by position)."""
        if not rows:
            return []
        template = self.model()
        fixed = [f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in self.rest]
        table = self.model._meta.db_table
        given = ", ".join(f.column for f in self.fields)
        rest = ", ".join(f.column for f in self.rest)
        connection.ensure_connection()
        with connection.cursor() as cur:
            cur.execute(f"TRUNCATE {self.tmp}")
            with connection.connection.cursor() as raw, raw.copy(f"COPY {self.tmp} (ord, {given}) FROM STDIN") as cp:
                json = self.json
                for i, row in enumerate(rows):
                    cp.write_row((i, *(orjson.dumps(v).decode() if j and v is not None else v
                                       for v, j in zip(row, json, strict=True))))
            placeholders = ", ".join(["%s"] * len(fixed))
            cur.execute(
                f"INSERT INTO {table} ({given}{', ' + rest if rest else ''}) "  # noqa: S608 - model metadata
                f"SELECT {given}{', ' + placeholders if rest else ''} FROM {self.tmp} ORDER BY ord "
                f"RETURNING {', '.join(returning)}",
                fixed,
            )
            return cur.fetchall()
