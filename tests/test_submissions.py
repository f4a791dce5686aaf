"""Submissions from towns and their review by staff (tiny corpus, fake embedder, re-index in a thread:
fast): checked like corpus records, reserved fields refused, spam limits, staff pages only with a
session and a CSRF token, sign-in failures limited, approval through the write log, an audit log."""

from __future__ import annotations

import re
import shutil
import sqlite3
import warnings
from collections.abc import Iterator
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar.testing import TestClient

from practice_finder.build.ingest import ingest
from practice_finder.config import Settings
from practice_finder.corpus.staff_accounts import FAILURES_ALLOWED, add_staff
from practice_finder.corpus.submissions import SUBMISSIONS_PER_HOUR, ReviewStore
from practice_finder.web.app import create_app

from .conftest import CORPUS
from .fakes import HashingEmbedder, service_settings, write_tiny_corpus

PASSWORD = "correct horse battery"
TITLE = "Sauna evenings for fishermen"


def _settings(root: Path) -> Settings:
    return service_settings(root, dictionaries_dir=root / "no-dictionaries")


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-submissions")
    write_tiny_corpus(root / "corpus", CORPUS / "taxonomy.yaml")
    embedder = HashingEmbedder()
    ingest(_settings(root), lambda: embedder)
    return root


@pytest.fixture
def served(tiny_build: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    for folder in ("corpus", "indexes"):
        shutil.copytree(tiny_build / folder, tmp_path / folder, symlinks=True)
    settings = _settings(tmp_path)
    add_staff(ReviewStore(settings.state_dir), "anna", PASSWORD)
    embedder = HashingEmbedder()
    app = create_app(settings, lambda: embedder, watch=False)
    # https: the staff and CSRF cookies are Secure, and the client sends them only over https
    with TestClient(app, base_url="https://testserver.local") as client:
        yield client, app.state["service"]


def _submission(client: TestClient) -> dict[str, Any]:
    record = client.get("/v1/practices", params={"format": "jsonl"}).text.splitlines()[0]
    payload: dict[str, Any] = __import__("json").loads(record)
    for reserved in ("id", "source", "basis", "city"):
        payload.pop(reserved, None)
    payload["title"] = TITLE
    payload["contact_email"] = "culture@example.org"
    payload["contact_website"] = "https://example.org/sauna"
    return payload


def _token(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the form has no CSRF token"
    return found.group(1)


def _sign_in(client: TestClient, password: str = PASSWORD) -> Any:
    token = _token(client.get("/staff/sign-in").text)
    return client.post(
        "/staff/sign-in",
        data={"name": "anna", "password": password, "_csrf_token": token},
        follow_redirects=False,
    )


def _search_ids(client: TestClient, q: str) -> list[str]:
    return [h["id"] for h in client.get("/v1/search", params={"q": q, "k": 20}).json()["hits"]]


def test_an_api_submission_waits_for_review_and_has_a_private_status(
    served: tuple[TestClient, Any],
) -> None:
    client, service = served
    response = client.post("/v1/submissions", json=_submission(client))
    assert response.status_code == 201, response.text
    status_url = response.json()["status_url"]
    assert len(status_url.rsplit("/", 1)[1]) >= 32  # an unguessable token
    assert client.get(status_url).json()["state"] == "pending"
    assert client.get("/v1/submissions/not-a-token").status_code == 404
    assert service.catalog.log.max_seq() == 0  # nothing in the write log before approval
    assert all("sauna" not in i for i in _search_ids(client, "sauna evenings fishermen"))


def test_reserved_fields_and_invalid_fields_are_refused_by_field(
    served: tuple[TestClient, Any],
) -> None:
    client, _ = served
    body = {
        **_submission(client),
        "id": "library-evenings",
        "source": "https://example.org",
        "status": "approved",
    }
    body["population"] = "many"
    response = client.post("/v1/submissions", json=body)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"id", "source", "status", "population"} <= fields
    assert _count(client) == 0


def _count(client: TestClient) -> int:
    path = client.app.state["service"].settings.state_dir / "review.db"
    with sqlite3.connect(path) as conn:
        return int(conn.execute("select count(*) from submissions").fetchone()[0])


def test_the_page_submits_with_csrf_and_shows_problems_beside_fields(
    served: tuple[TestClient, Any],
) -> None:
    client, _ = served
    page = client.get("/submit", params={"lang": "lv"})
    assert page.status_code == 200 and 'lang="lv"' in page.text
    form = {"title": TITLE, "population": "many", "_csrf_token": _token(page.text)}
    assert client.post("/submit", data={"title": TITLE}).status_code == 403  # no CSRF token
    shown = client.post("/submit", data=form)
    assert shown.status_code == 422
    assert 'id="err-population"' in shown.text and 'id="err-what_happened"' in shown.text
    assert 'aria-describedby="err-population"' in shown.text and _count(client) == 0
    trapped = client.post("/submit", data={**form, "homepage": "http://spam.example"})
    assert trapped.status_code == 400 and _count(client) == 0  # the honeypot


def test_submissions_are_limited_per_address(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    body = _submission(client)
    for _ in range(SUBMISSIONS_PER_HOUR):
        assert client.post("/v1/submissions", json=body).status_code == 201
    refused = client.post("/v1/submissions", json=body)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3600"
    assert _count(client) == SUBMISSIONS_PER_HOUR


def test_no_staff_page_or_action_without_a_session(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    client.post("/v1/submissions", json=_submission(client))
    token = _token(client.get("/staff/sign-in").text)  # a CSRF token, but no session
    for path in ("/staff", "/staff/audit", "/staff/submissions/1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/staff/sign-in"
    for action in ("approve", "reject", "send-back", "edit"):
        response = client.post(
            f"/staff/submissions/1/{action}",
            data={"_csrf_token": token, "source": "https://example.org", "comment": "x"},
            follow_redirects=False,
        )
        assert response.status_code == 303, action
    assert client.get(client.post("/v1/submissions", json=_submission(client)).json()["status_url"])
    assert _states(client) == ["pending", "pending"]


def _staff_cookie(response: Any) -> Morsel[str]:
    """The `pf_staff` cookie a response sets, with its attributes."""
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if "pf_staff" in jar:
            return jar["pf_staff"]
    raise AssertionError("the response sets no staff cookie")


def _stored(client: TestClient, session_id: str) -> bytes | None:
    """What the staff session store holds under this identifier."""
    return anyio.run(client.app.stores.get("staff_sessions").get, session_id)


def _staff_page_with(client: TestClient, session_id: str) -> Any:
    """/staff asked for with only this staff cookie (what an attacker holding it would send)."""
    return client.get(
        "/staff", headers={"cookie": f"pf_staff={session_id}"}, follow_redirects=False
    )


def test_a_visitor_who_has_not_signed_in_gets_no_session(served: tuple[TestClient, Any]) -> None:
    """Nothing is stored and no identifier is issued before a sign-in: no identifier to plant, and no
    file in the store for each anonymous request (which anyone could send by the thousand)."""
    client, _ = served
    store = client.app.state["service"].settings.state_dir / "staff-logins"
    before = sorted(store.iterdir()) if store.is_dir() else []
    for path in ("/staff/sign-in", "/staff", "/staff/audit"):
        response = client.get(path, follow_redirects=False)
        assert not [h for h in response.headers.get_list("set-cookie") if "pf_staff" in h], path
    assert (sorted(store.iterdir()) if store.is_dir() else []) == before


@pytest.mark.parametrize("planted", ["signed in before", "made up"])
def test_signing_in_gives_a_new_session_id_and_the_old_one_opens_nothing(
    served: tuple[TestClient, Any], planted: str
) -> None:
    client, _ = served
    if planted == "made up":  # an id the service never issued, set by another site or a script
        before = "a" * 64
    else:  # an identifier the service did issue: someone's sign-in, planted in this browser
        before = _staff_cookie(_sign_in(client)).value
        client.cookies.clear()
    client.cookies.set("pf_staff", before, domain="testserver.local", path="/staff")
    signed_in = _sign_in(client)
    after = _staff_cookie(signed_in).value
    assert signed_in.status_code == 303 and after not in (before, "null")
    assert _stored(client, before) is None and _stored(client, after) is not None
    assert _staff_page_with(client, after).status_code == 200
    stale = _staff_page_with(client, before)
    assert stale.status_code == 303 and stale.headers["location"] == "/staff/sign-in"


def test_signing_out_ends_the_session(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    session_id = _staff_cookie(_sign_in(client)).value
    token = _token(client.get("/staff").text)
    signed_out = client.post("/staff/sign-out", data={"_csrf_token": token}, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/staff/sign-in"
    cookie = _staff_cookie(signed_out)
    assert cookie.value == "null" and cookie["max-age"] == "0"  # the browser drops it
    assert _stored(client, session_id) is None
    assert _staff_page_with(client, session_id).status_code == 303


def test_the_staff_cookie_is_secure_httponly_strict_and_kept_to_staff(
    served: tuple[TestClient, Any],
) -> None:
    """Secure always: the service is reached over TLS through its reverse proxy (the README's
    deployment), so the cookie never travels in clear, whatever the proxy forwards."""
    client, _ = served
    cookie = _staff_cookie(_sign_in(client))
    assert cookie["httponly"] is True and cookie["secure"] is True
    assert cookie["samesite"].lower() == "strict" and cookie["path"] == "/staff"
    assert cookie["max-age"] == str(8 * 3600)


def _states(client: TestClient) -> list[str]:
    path = client.app.state["service"].settings.state_dir / "review.db"
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("select state from submissions order by number")]


def test_staff_actions_need_the_csrf_token(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    client.post("/v1/submissions", json=_submission(client))
    assert _sign_in(client).status_code == 303
    response = client.post(
        "/staff/submissions/1/approve",
        data={"source": "https://example.org"},
        follow_redirects=False,
    )
    assert response.status_code == 403 and _states(client) == ["pending"]


def test_wrong_passwords_are_limited(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    for _ in range(FAILURES_ALLOWED):
        assert _sign_in(client, "wrong password!").status_code == 401
    assert _sign_in(client).status_code == 429  # even the right password, until the window passes
    with sqlite3.connect(client.app.state["service"].settings.state_dir / "review.db") as conn:
        stored = conn.execute("select password_hash from staff").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_approval_goes_through_the_write_log_and_is_audited(
    served: tuple[TestClient, Any],
) -> None:
    client, service = served
    status_url = client.post("/v1/submissions", json=_submission(client)).json()["status_url"]
    assert _sign_in(client).status_code == 303
    queue = client.get("/staff")
    assert TITLE in queue.text
    review = client.get("/staff/submissions/1")
    assert "Possible duplicates" in review.text and "/practices/" in review.text
    approved = client.post(
        "/staff/submissions/1/approve",
        data={"_csrf_token": _token(review.text), "source": "https://example.org/sauna"},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    state = client.get(status_url).json()
    assert state["state"] == "approved" and state["practice_id"] == "sauna-evenings-for-fishermen"
    assert service.catalog.log.max_seq() == 1
    service.tick()  # the background re-index, driven by the test
    assert "sauna-evenings-for-fishermen" in _search_ids(client, "sauna evenings fishermen")
    audit = client.get("/staff/audit").text
    assert "approved" in audit and "anna" in audit and "sauna-evenings-for-fishermen" in audit


def test_staff_edit_send_back_and_reject_are_audited(served: tuple[TestClient, Any]) -> None:
    client, service = served
    first = client.post("/v1/submissions", json=_submission(client)).json()["status_url"]
    second = client.post("/v1/submissions", json=_submission(client)).json()["status_url"]
    _sign_in(client)
    token = _token(client.get("/staff/submissions/1").text)
    fields = {"_csrf_token": token, "title": "", "population": "many"}
    edited = client.post("/staff/submissions/1/edit", data=fields)
    assert edited.status_code == 422 and 'id="err-title"' in edited.text
    empty = client.post("/staff/submissions/1/send-back", data={"_csrf_token": token})
    assert empty.status_code == 400  # sending back needs a comment
    bad_source = client.post(
        "/staff/submissions/1/approve", data={"_csrf_token": token, "source": "nowhere"}
    )
    assert bad_source.status_code == 422 and "neither an http(s) URL" in bad_source.text
    back = {"_csrf_token": token, "comment": "Please add the outcomes in numbers."}
    assert client.post("/staff/submissions/1/send-back", data=back).status_code == 200
    assert client.get(first).json()["comment"] == back["comment"]
    assert client.post("/staff/submissions/2/reject", data=back).status_code == 200
    assert client.get(second).json()["state"] == "rejected"
    again = client.post("/staff/submissions/2/reject", data=back)
    assert again.status_code == 400  # a decided submission stays decided
    assert service.catalog.log.max_seq() == 0  # nothing was published
    audit = client.get("/staff/audit").text
    assert "send back" in audit and "rejected" in audit and "Please add the outcomes" in audit


def test_staff_add_prompts_for_the_password(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from practice_finder.cli.main import cli

    state = tmp_path / "state"
    short = CliRunner().invoke(
        cli, ["staff", "add", "anna", "--state", str(state)], input="short\nshort\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    made = CliRunner().invoke(
        cli, ["staff", "add", "anna", "--state", str(state)], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert made.exit_code == 0, made.output
    listed = CliRunner().invoke(cli, ["staff", "list", "--state", str(state)])
    assert listed.output.split() == ["anna"]


@pytest.mark.parametrize("path", ["/submit", "/staff/sign-in"])
def test_the_new_pages_keep_the_strict_content_security_policy(
    served: tuple[TestClient, Any], path: str
) -> None:
    client, _ = served
    response = client.get(path)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in response.text and "style=" not in response.text
    cookie = response.headers["set-cookie"].lower()  # the CSRF cookie
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_staff_import_checks_then_imports_through_the_write_log(
    served: tuple[TestClient, Any],
) -> None:
    client, service = served
    lines = client.get("/v1/practices", params={"format": "jsonl"}).text.splitlines()
    record = __import__("json").loads(lines[0])
    record.update(id="sauna-evenings", title=TITLE)
    broken = dict(record, id="broken-row", population="many")
    good = (__import__("json").dumps(record) + "\n").encode()
    assert client.get("/staff/import", follow_redirects=False).status_code == 303  # signed out
    _sign_in(client)
    token = _token(client.get("/staff/import").text)
    bad_file = good + (__import__("json").dumps(broken) + "\n").encode()
    checked = client.post(
        "/staff/import",
        data={"_csrf_token": token},
        files={"file": ("practices.jsonl", bad_file, "application/x-ndjson")},
    )
    assert (
        checked.status_code == 200
        and "population" in checked.text
        and 'id="confirm"' not in checked.text
    )
    checked = client.post(
        "/staff/import",
        data={"_csrf_token": token},
        files={"file": ("practices.jsonl", good, "application/x-ndjson")},
    )
    assert "added: 1 practices" in checked.text and service.catalog.log.max_seq() == 0
    upload = re.search(r'name="upload" value="([^"]+)"', checked.text)
    assert upload
    done = client.post(
        "/staff/import/confirm",
        data={"_csrf_token": token, "upload": upload.group(1), "filename": "practices.jsonl"},
    )
    assert done.status_code == 200 and "Imported" in done.text
    assert service.catalog.log.max_seq() == 1
    assert "import" in client.get("/staff/audit").text


def _refused(client: TestClient, lang: str, **fields: str) -> str:
    """The /submit page in `lang` answering a form that lacks most fields (so nothing is stored)."""
    page = client.get("/submit", params={"lang": lang})
    shown = client.post(f"/submit?lang={lang}", data={**fields, "_csrf_token": _token(page.text)})
    assert shown.status_code == 422 and _count(client) == 0
    assert f'<html lang="{lang}">' in shown.text
    return shown.text


def _beside(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{field}">(.*?)</p>', page)
    assert found, f"no message beside {field}"
    return found.group(1)


def test_a_refused_submission_is_explained_beside_its_fields_in_the_pages_language(
    served: tuple[TestClient, Any],
) -> None:
    client, _ = served
    latvian = _refused(client, "lv", summary="x" * 2001)
    # in the page's language, so not marked as English; the limit written as Latvian writes numbers
    assert _beside(latvian, "title") == "ir obligāti jāaizpilda"
    assert (
        _beside(latvian, "summary")
        == "satur 2\u00a0001 rakstzīmes; atļauts ne vairāk kā 2\u00a0000"
    )
    assert _beside(latvian, "years") == "ir obligāti jāaizpilda"
    assert 'lang="en"' not in latvian.split('<form class="submission"')[1]
    polish = _refused(client, "pl", title="x" * 301)
    assert _beside(polish, "title") == "liczba znaków: 301; dozwolone najwyżej 300"
    assert _beside(polish, "municipality") == "to pole jest wymagane i nie może być puste"


def test_the_english_submission_page_keeps_the_english_messages(
    served: tuple[TestClient, Any],
) -> None:
    client, _ = served
    english = _refused(client, "en", summary="x" * 2001)
    assert _beside(english, "title") == "is required but missing"
    assert _beside(english, "summary") == "is 2001 characters long; at most 2000 are allowed"
    answer = client.post("/v1/submissions", json={"summary": "x" * 2001}, params={"lang": "lv"})
    problems = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert problems["title"] == "is required but missing"  # the API's details stay English


def test_the_csrf_check_covers_the_forms_only_and_litestar_does_not_call_it_disabled(
    tiny_build: Path, tmp_path: Path
) -> None:
    """An exclude pattern that matches "/" makes Litestar warn that CSRF is "effectively disabled", which
    would send an operator after a hole that is not there; the home page is left out by its option."""
    for folder in ("corpus", "indexes"):
        shutil.copytree(tiny_build / folder, tmp_path / folder, symlinks=True)
    embedder = HashingEmbedder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = create_app(_settings(tmp_path), lambda: embedder, watch=False)
        with TestClient(app, base_url="https://testserver.local") as client:
            pages = {path: client.get(path) for path in ("/", "/?q=choir", "/towns", "/submit")}
            refused = client.post("/submit", data={"title": "x"}, follow_redirects=False)
            api = client.post("/v1/recommendations", json={"profile": {"text": "choir"}})
    assert not [w for w in caught if "CSRF" in str(w.message)]
    set_csrf = {path: "pf_csrf" in r.headers.get("set-cookie", "") for path, r in pages.items()}
    assert set_csrf == {"/": False, "/?q=choir": False, "/towns": False, "/submit": True}
    assert refused.status_code == 403  # no token
    assert api.status_code == 200  # the JSON API sends no cookies and is not checked
