"""A private PostgreSQL cluster for tests (``initdb``/``pg_ctl`` on a free port), and databases in it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest

from province.cluster import PostgresNotFound, PrivateCluster

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PrivateCluster]:
    """One server for the session (it takes ~2 s to create); each test gets its own database."""
    try:
        cluster = PrivateCluster(database="postgres")
    except PostgresNotFound as exc:  # bootstrap --test installs it: a missing server is a failure
        pytest.fail(str(exc))
    with cluster:
        yield cluster


@pytest.fixture
def pg_dsn(pg_cluster: PrivateCluster) -> Iterator[str]:
    """A new, empty database in the session's cluster; dropped after the test."""
    name = f"t{next(_names)}"
    with psycopg.connect(pg_cluster.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]  # generated name
    yield pg_cluster.dsn(name)
    with psycopg.connect(pg_cluster.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
