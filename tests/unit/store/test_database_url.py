"""CHARTER_DATABASE_URL: the spellings accepted, and one clear refusal for each bad one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from charter.errors import StoreError
from charter.store.database import Database, open_database
from charter.store.database_url import normalize_url, redact

URL_FORM = "write sqlite:///path or postgresql://user@host:port/db"


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("postgres://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("POSTGRES://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_common_postgres_spellings_mean_psycopg(written: str, meant: str) -> None:
    assert normalize_url(written) == meant


def test_redact_hides_the_password_even_in_an_unparseable_url() -> None:
    assert redact("postgres://u:s3cret@h:notaport/db") == "postgres://u:***@h:notaport/db"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


def refusal(url: str) -> str:
    with pytest.raises(StoreError) as caught:
        open_database(url)
    assert caught.value.field == "CHARTER_DATABASE_URL"
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_garbage_is_not_a_database_url() -> None:
    assert refusal("garbage") == (
        f"CHARTER_DATABASE_URL: 'garbage' is not a database URL: {URL_FORM}"
    )


def test_a_bad_port_is_refused_without_the_password() -> None:
    message = refusal("postgres://u:s3cret@h:notaport/db")
    assert "s3cret" not in message and "is not a database URL" in message


def test_an_unsupported_scheme_names_the_supported_ones() -> None:
    message = refusal("mysql://u@h/db")
    assert "'mysql' databases are not supported (only SQLite and PostgreSQL)" in message
    assert "driver 'postgresql+psycopg2' is not installed" in refusal("postgresql+psycopg2://u@h/d")


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        message = refusal(f"postgresql://u:s3cret@127.0.0.1:{port}/db")
    assert message == (
        f"CHARTER_DATABASE_URL: cannot connect to 127.0.0.1:{port} (connection refused); "
        "is PostgreSQL running?"
    )


def test_a_sqlite_path_that_cannot_be_made_or_is_not_a_database(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    message = refusal(f"sqlite:///{blocker}/sub/charter.db")
    assert f"cannot open the SQLite database {blocker}/sub/charter.db" in message
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all, just text" * 10)
    assert "(file is not a database)" in refusal(f"sqlite:///{junk}")


def test_the_shown_url_is_normalized_and_redacted(tmp_path: Path) -> None:
    database = Database("postgres://u:s3cret@127.0.0.1:1/db")
    assert database.display_url == "postgresql+psycopg://u:***@127.0.0.1:1/db"
    assert database.url == "postgresql+psycopg://u:s3cret@127.0.0.1:1/db"
    database.dispose()
