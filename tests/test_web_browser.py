"""End-to-end journeys in headless Chromium (Debian's chromium, driven by Playwright) against a live server.

Skips, saying why, when Chromium or Playwright is missing; CI installs both (.ci/run).
Screenshots of every page go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from practice_finder.config import Settings

from .conftest import copy_index

pytestmark = pytest.mark.real  # a live server on the real index, driven by Chromium

CHROMIUM = Path(os.environ.get("PF_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(__file__).parent / "screenshots"
YOUTH = "young people leave our small town, how can culture keep them"

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install -e '.[dev]')"
)
if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run the browser tests",
        allow_module_level=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(index_dir: Path, **env: str) -> Iterator[str]:
    """`practice-finder serve` on a free port over `index_dir` (and any PF_* settings in `env`)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "practice_finder", "serve", "--port", str(port)]
    cmd += ["--index", str(index_dir)]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the server did not become ready within 180 s")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def base_url(real_settings: Settings) -> Iterator[str]:
    with _serve(real_settings.index_dir) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, base_url: str) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh page that records every request it makes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.requests = []  # type: ignore[attr-defined]
    pg.on("request", lambda request: pg.requests.append(request.url))  # type: ignore[attr-defined]
    yield pg
    context.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _stays_local(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    outside = [u for u in page.requests if not u.startswith((base_url, "data:", "about:", "blob:"))]
    assert not outside, outside


def test_type_a_query_and_see_results(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/")
    shot(page, "search-empty")
    page.get_by_label("Describe your town's challenge").fill(YOUTH)
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector(".hit")
    assert page.locator(".hit").count() == 10
    assert page.locator(".hit mark").count() > 0
    assert "Youth out-migration" in page.locator(".summary").inner_text()
    shot(page, "search-results")
    _stays_local(page, base_url)


def test_choose_two_countries_together(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/?q=choir")
    count = {
        code: int(page.locator(f"#country-{code} + label .count").get_attribute("data-count"))
        for code in ("LV", "EE")
    }
    page.locator("#country-LV").check()
    playwright_api.expect(page.locator("#total")).to_have_text(str(count["LV"]), timeout=30_000)
    # Estonia is still offered after Latvia was chosen (the facet is counted without its own filter)
    page.locator("#country-EE").check()
    playwright_api.expect(page.locator("#total")).to_have_text(
        str(count["LV"] + count["EE"]), timeout=30_000
    )
    assert "country=LV" in page.url and "country=EE" in page.url
    assert page.locator("#country-LV").is_checked() and page.locator("#country-EE").is_checked()
    places = {
        t.split(",")[1].split("·")[0].strip() for t in page.locator(".hit .meta").all_inner_texts()
    }
    assert places == {"Latvia", "Estonia"}
    shot(page, "search-two-countries")


def test_apply_an_understood_constraint_with_one_click(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/?q=cheap+ideas+for+our+village+in+the+Baltic+states")
    page.locator(".summary a.tag-constraint[data-kind=country]").click()
    playwright_api.expect(page.locator(".summary .tag-applied[data-kind=country]")).to_be_visible(
        timeout=30_000
    )
    assert all(page.locator(f"#country-{code}").is_checked() for code in ("EE", "LV", "LT"))
    places = {
        t.split(",")[1].split("·")[0].strip() for t in page.locator(".hit .meta").all_inner_texts()
    }
    assert places and places <= {"Estonia", "Latvia", "Lithuania"}
    # the other constraints are still one click away
    assert page.locator(".summary a.tag-constraint[data-kind=size]").count() == 1
    shot(page, "search-constraint-applied")


def test_filter_changes_facet_counts_without_reload(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/?q=" + YOUTH.replace(" ", "+"))
    total_before = int(page.locator("#total").inner_text())
    counts_before = page.locator("[data-facet=challenge] .count").all_inner_texts()
    page.evaluate("window.__same_page = true")
    page.locator("[data-facet=country] input[value=LV]").check()
    # a locator assertion, not wait_for_function: the page's Content-Security-Policy forbids eval'd strings
    playwright_api.expect(page.locator("#total")).not_to_have_text(
        str(total_before), timeout=30_000
    )
    assert page.evaluate("window.__same_page === true"), (
        "the page reloaded instead of updating in place"
    )
    assert "country=LV" in page.url
    total_after = int(page.locator("#total").inner_text())
    assert total_after < total_before
    assert page.locator("[data-facet=challenge] .count").all_inner_texts() != counts_before
    assert {
        t.split(",")[1].split("·")[0].strip() for t in page.locator(".hit .meta").all_inner_texts()
    } == {"Latvia"}
    shot(page, "search-filtered")
    _stays_local(page, base_url)


def test_open_a_practice_and_its_town(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/?q=" + YOUTH.replace(" ", "+") + "&country=LV")
    page.locator(".hit h3 a").first.click()
    page.wait_for_selector("h1")
    assert page.locator("h2", has_text="What happened").count() == 1
    assert page.locator(".similar li").count() == 5
    shot(page, "practice")
    page.locator("aside a[href^='/towns/']").first.click()
    page.wait_for_selector("#similar-h")
    assert page.locator("#similar-h + .help + .peers > li").count() == 6
    assert page.locator(".peers .reason").count() >= 6
    assert "Action plan" in page.content()
    shot(page, "town")
    _stays_local(page, base_url)


def test_submit_the_recommendation_form(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/recommend")
    page.get_by_label("Country", exact=True).select_option("LT")
    page.get_by_label("Population", exact=True).fill("8000")
    page.get_by_label("Loneliness and social isolation", exact=True).check()
    page.get_by_label("Your draft action plan").fill(
        "Young people move away after school. We have a lake and a strong choir."
    )
    page.get_by_role("button", name="Recommend practices and peers").click()
    page.wait_for_selector(".outcome")
    understood = page.locator(".outcome .tags").all_inner_texts()
    assert any("Youth out-migration" in t for t in understood) and any(
        "Lake" in t for t in understood
    )
    assert page.locator(".outcome .hit").count() == 8
    assert (
        page.locator(".outcome .hit .reason")
        .first.inner_text()
        .startswith("Addresses your challenges")
    )
    shot(page, "recommend")
    _stays_local(page, base_url)


def test_error_states(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/?q=" + "a" * 1001)
    assert "at most 1000" in page.locator(".alert").inner_text()
    shot(page, "error-too-long")
    response = page.goto(base_url + "/towns/atlantis")
    assert (
        response.status == 404
        and "no city with id 'atlantis'" in page.locator(".alert").inner_text()
    )
    page.goto(
        base_url
        + "/?q=zzzz+qqqq&country=EE&challenge=disability-inclusion&asset=islands&theme=digital-transformation"
    )
    assert page.locator(".empty").count() == 1 and page.locator(".hit").count() == 0
    _stays_local(page, base_url)


def _box(page, selector: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    box = page.locator(selector).first.bounding_box()
    assert box, f"{selector} is not drawn"
    return dict(box)


def test_map_page(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/towns")
    assert page.locator("svg path.land").count() > 10
    for outline in ("path.land[data-name=Sweden]", "path.coast", "path.border"):
        box = _box(page, f"svg {outline}")
        assert box["width"] > 50 and box["height"] > 50, (outline, box)
    assert page.locator("svg a circle.dot").count() == 75
    assert page.locator(".pearl-dot").count() == 14
    shot(page, "towns")
    page.locator("svg a[aria-label^='Smiltene']").click()
    page.wait_for_selector("h1")
    assert "Smiltene" in page.locator("h1").inner_text()
    _stays_local(page, base_url)


def test_map_filters_and_zoom(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/towns")
    page.get_by_label("Latvia", exact=True).check()
    page.get_by_label("Estonia", exact=True).check()
    page.get_by_label("Cultural Pearls only").check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_selector("#towns-shown")
    assert "country=LV" in page.url and "country=EE" in page.url and "pearl=true" in page.url
    listed = page.locator("#town-list li > a").all_inner_texts()
    marked = page.locator("svg a").evaluate_all("links => links.map(a => a.ariaLabel)")
    assert listed and len(marked) == len(listed) < 75
    assert all(", Latvia, " in m or ", Estonia, " in m for m in marked), marked
    assert all("Cultural Pearl" in m for m in marked), marked
    assert page.locator("#town-list h2").all_inner_texts()[0].startswith("Estonia")
    # the map fits the towns chosen: closer than the whole region, every marker inside it
    assert page.locator("svg").get_attribute("data-zoom") in ("2", "4")
    frame = _box(page, "svg")
    for marker in page.locator("svg a circle").all():
        box = marker.bounding_box()
        assert (
            box
            and frame["x"] <= box["x"]
            and box["x"] + box["width"] <= frame["x"] + frame["width"]
        )
        assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
    close = page.locator("svg").get_attribute("viewBox").split()
    page.get_by_role("link", name="Zoom out").click()
    page.wait_for_selector("#towns-shown")
    wider = page.locator("svg").get_attribute("viewBox").split()
    assert float(wider[2]) == pytest.approx(float(close[2]) * 2, abs=0.2)
    assert _box(page, "svg")["width"] == pytest.approx(frame["width"], abs=1)
    assert "country=LV" in page.url and "zoom=" in page.url, "zooming keeps the filters"
    shot(page, "towns-filtered-zoomed")
    _stays_local(page, base_url)


def test_map_keyboard_and_accessibility(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    axe = pytest.importorskip(
        "axe_playwright_python.sync_playwright",
        reason="axe-playwright-python is not installed (pip install -e '.[dev]')",
    )
    page.goto(base_url + "/towns?zoom=2&x=0.5&y=0.6")
    page.locator(".map-tools a").last.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#town-list') !== null"), (
        "one Tab from the map reaches the list of towns"
    )
    for path in ("/towns", "/towns?country=LV&zoom=4&x=0.6&y=0.7"):
        page.goto(base_url + path)
        results = axe.Axe().run(page)
        assert results.violations_count == 0, results.generate_report()


def test_search_works_without_javascript(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto(base_url + "/")
    pg.get_by_label("Describe your town's challenge").fill("wooden houses decaying")
    pg.get_by_role("button", name="Search").click()
    pg.wait_for_selector(".hit")
    pg.locator("[data-facet=country] input").first.check()
    pg.get_by_role("button", name="Apply filters").click()
    pg.wait_for_selector(".hit")
    assert pg.locator(".pages a[rel=next]").count() + pg.locator(".hit").count() > 0
    context.close()


def test_phone_sized_screen_and_keyboard(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    pg = context.new_page()
    pg.goto(base_url + "/?q=lonely+older+people")
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        "horizontal scrolling on a phone"
    )
    shot(pg, "search-phone")
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.className") == "skip"
    pg.keyboard.press("Enter")
    pg.goto(base_url + "/towns?lang=lt")
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        "horizontal scrolling of the towns page on a phone"
    )
    context.close()


def test_every_form_control_has_a_label(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    for path in ("/?q=lonely", "/recommend", "/towns"):
        page.goto(base_url + path)
        unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.name || e.id)""")
        assert not unlabeled, (path, unlabeled)


LATVIAN_QUESTION = "jauniešu aizplūšana no mazpilsētas"
LATVIAN_PLAN = (
    "Mūsu mazpilsētas lielākā problēma ir jauniešu aizplūšana: pēc vidusskolas jaunieši aizbrauc "
    "studēt vai strādāt uz Rīgu vai ārzemēm un vairs neatgriežas. Vecāka gadagājuma cilvēki ciemos dzīvo vieni un jūtas vientuļi, kopš "
    "slēgta autobusa līnija uz pagastu. Galvenajā ielā ir daudz tukšu veikalu, un centrs vakaros "
    "ir tukšs. Vecpilsētas koka mājas sabrūk, jo īpašniekiem trūkst naudas un prasmju to "
    "atjaunošanai. Mums ir bibliotēka, kultūras nams, spēcīgs koris un ezers."
)
LATVIAN_REASON_STARTS = (
    "Risina jūsu izaicinājumus",
    "Balstās uz jūsu resursiem",
    "Saturā tuvs",
    "Īstenota: ",
)


def test_latvian_journey(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    """A Latvian browser: the Latvian page, a Latvian question, a Latvian draft plan, Latvian reasons.

    The last assertions (terms understood from the Latvian plan, mentor towns) need the plan to be
    read in its own language, not as English."""
    context = browser.new_context(locale="lv-LV", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.goto(base_url + "/")
    assert pg.locator("html").get_attribute("lang") == "lv"
    pg.get_by_label("Aprakstiet savas pašvaldības izaicinājumu").fill(LATVIAN_QUESTION)
    pg.get_by_role("button", name="Meklēt", exact=True).click()
    pg.wait_for_selector(".hit")
    assert "lang=lv" in pg.url, "the language stays in the address"
    assert "jauniešu aizplūšana" in pg.locator(".summary").inner_text()
    assert pg.locator(".hit").count() == 10
    shot(pg, "lv-search")
    pg.get_by_role("link", name="Saņemt ieteikumus").click()
    pg.wait_for_selector("form.recommend")
    assert pg.locator("html").get_attribute("lang") == "lv" and "lang=lv" in pg.url
    pg.get_by_label("Valsts", exact=True).select_option("LV")
    pg.get_by_label("Iedzīvotāju skaits", exact=True).fill("9000")
    pg.get_by_label("Jūsu rīcības plāna projekts vai situācijas apraksts").fill(LATVIAN_PLAN)
    pg.get_by_role("button", name="Ieteikt prakses un partnerus").click()
    pg.wait_for_selector(".outcome")
    assert pg.locator("html").get_attribute("lang") == "lv"
    assert pg.locator(".outcome .hit").count() == 8
    reasons = pg.locator(".outcome .hit .reason").all_inner_texts()
    assert reasons and all(r.startswith(LATVIAN_REASON_STARTS) for r in reasons), reasons
    assert all("iedzīvotāj" in r for r in reasons)
    shot(pg, "lv-recommend")
    # understood from the Latvian text itself (nothing was ticked): youth leaving, loneliness
    understood = " ".join(pg.locator(".outcome .tags").all_inner_texts())
    assert "jauniešu aizplūšana" in understood and "vientulība" in understood, understood
    assert any(r.startswith("Risina jūsu izaicinājumus") for r in reasons), reasons
    assert pg.locator(".mentor-towns .peers > li").count() >= 3
    context.close()


# -- a town submits a practice, staff approve it, it is found --------------------------------------

STAFF, STAFF_PASSWORD = "reviewer", "a long password for the test"
BOATS_LV = {
    "title": "Jaunieši būvē koka laivas pie Lubāna ezera",
    "municipality": "Madona",
    "population": "21000",
    "years": "2022, 2023, 2024",
    "summary": "Jaunieši kopā ar veciem laivu meistariem būvēja koka laivas pie ezera un atrada iemeslu palikt novadā.",
    "what_happened": (
        "Jaunieši no Madonas novada trīs vasaras pēc kārtas būvēja koka laivas kopā ar vietējiem amatniekiem "
        "pie Lubāna ezera. Ideja radās, kad skolēni aptaujā teica, ka pilsētā nav ko darīt un pēc skolas viņi "
        "plāno aizbraukt. Novada muzejs atrada vecos laivu zīmējumus, un divi pensionēti laivu meistari piekrita "
        "mācīt. Katru nedēļas nogali divpadsmit līdz divdesmit jaunieši zāģēja, ēvelēja un darvoja dēļus "
        "kultūras nama pagalmā. Pirmajā vasarā tapa divas laivas, otrajā četras. Vecāki un kaimiņi nāca "
        "skatīties, un ezera svētkos laivas tika nolaistas ūdenī ar koncertu. Jaunieši paši veidoja video par "
        "darbnīcu un rādīja to skolā. Trešajā gadā darbnīcu vadīja jau paši bijušie dalībnieki, un pašvaldība "
        "iekļāva to jauniešu vasaras programmā. Daži dalībnieki izvēlējās mācīties par kokapstrādes meistariem "
        "tuvējā tehnikumā un palika novadā. Muzejs izstādīja laivu zīmējumus un fotogrāfijas no darbnīcas, un "
        "tūristi sāka jautāt par laivu nomu."
    ),
    "outcomes": "Sešas laivas, trīsdesmit pieci dalībnieki; darbnīca ir pašvaldības jauniešu vasaras programmā.",
    "success_factors": "Pensionēti meistari, muzeja zīmējumi un jauniešu pašu veidotie video.",
    "resources": "Koksne no pašvaldības meža, meistaru laiks un kultūras nama pagalms.",
    "contact_person": "Ilze Ozola",
    "contact_email": "kultura@example.org",
    "contact_website": "https://example.org/laivas",
}
BOAT_TAGS = {
    "challenges": ["youth-out-migration"],
    "assets": ["crafts", "lake", "museum"],
    "themes": ["intergenerational-exchange"],
    "target_groups": ["young-people"],
}


@pytest.fixture(scope="module")
def review_url(real_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own over a copy of the real index (approvals re-index it), with a staff account."""
    from practice_finder.corpus.staff_accounts import add_staff
    from practice_finder.corpus.submissions import ReviewStore

    root = tmp_path_factory.mktemp("review")
    copy_index(real_settings.index_dir, root / "indexes")
    add_staff(ReviewStore(root / "state"), STAFF, STAFF_PASSWORD)
    env = {"PF_STATE_DIR": str(root / "state"), "PF_CORPUS_DIR": str(real_settings.corpus_dir)}
    with _serve(root / "indexes", **env, PF_REINDEX_DELAY="0") as url:
        yield url


def _accessible(page) -> None:  # type: ignore[no-untyped-def]
    """Every control labelled, and no axe-core violation (when axe-playwright-python is installed)."""
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map(e => e.name || e.id)""")
    assert not unlabeled, unlabeled
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        return
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def _found(url: str, question: str, practice_id: str) -> bool:
    query = urllib.parse.urlencode({"q": question, "k": 10})
    with urllib.request.urlopen(f"{url}/v1/search?{query}", timeout=60) as r:
        return practice_id in [h["id"] for h in json.loads(r.read())["hits"]]


def test_a_town_submits_staff_approve_and_it_is_found(browser, review_url: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="lv-LV")
    town = context.new_page()
    town.goto(review_url + "/submit?lang=lv")
    _accessible(town)
    for name, value in BOATS_LV.items():
        town.locator(f"[name={name}]").fill(value)
    town.locator("select[name=country]").select_option("LV")
    town.locator("select[name=budget_band]").select_option("under-10k")
    for vocabulary, ids in BOAT_TAGS.items():
        for term_id in ids:
            town.locator(f"input[name={vocabulary}][value={term_id}]").check()
    town.get_by_role("button", name="Nosūtīt izvērtēšanai").click()
    playwright_api.expect(town.locator("[role=status]")).to_contain_text("Paldies")
    status_link = town.locator("#status-link").get_attribute("href")
    shot(town, "submit-done-lv")

    staff = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    staff.goto(review_url + "/staff")  # no session: the sign-in page
    staff.get_by_label("Name").fill(STAFF)
    staff.get_by_label("Password").fill(STAFF_PASSWORD)
    staff.get_by_role("button", name="Sign in").click()
    staff.get_by_role("link", name=BOATS_LV["title"]).click()
    duplicates = staff.locator(".duplicates li a")
    assert duplicates.count() >= 3  # the published practices closest to it, to compare
    assert staff.locator("#source").input_value() == BOATS_LV["contact_website"]
    _accessible(staff)
    shot(staff, "staff-review")
    staff.locator("#approve").click()
    staff.goto(review_url + "/staff/audit")
    first = staff.locator(".audit tbody tr").first.inner_text()
    assert "approved" in first and STAFF in first, first
    practice_id = first.rsplit("as ", 1)[1].strip()
    shot(staff, "staff-audit")

    town.goto(review_url + status_link)
    assert "Publicēta" in town.locator("#state").inner_text()
    deadline = time.time() + 300  # the background re-index embeds the new record in its own process
    latvian, english = (
        "jaunieši būvē koka laivas pie ezera",
        "young people build wooden boats at a lake",
    )
    while not _found(review_url, latvian, practice_id) and time.time() < deadline:
        time.sleep(2)
    assert _found(review_url, latvian, practice_id)
    assert _found(review_url, english, practice_id)
    town.goto(review_url + "/?" + urllib.parse.urlencode({"q": latvian, "lang": "lv"}))
    assert town.locator(f"a[href^='/practices/{practice_id}']").count() >= 1
    context.close()
    staff.context.close()
