"""The pages in headless Chromium, served by a real uvicorn server holding bundles made by
the real runner (see conftest): ranking as the API ranks, a click to a record, its curves
drawn, its diff against the record it beat, run and submission pages (the latter updating
itself), phone layout, keyboard use, imported history. Screenshots of every page go to
artifacts/screenshots/."""

from __future__ import annotations

import time

import httpx
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import update
from web_helpers import SMOKE_RUNS, screenshot

from server.models import Job
from server.services.tokens import create_token
from speedrun.tracks import get_track

# The first test also waits for the session's real bundles (minutes of training).
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1800)]


def _row_ids(browser, table_id: str) -> list[int]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [int(r.get_attribute("data-record")) for r in rows]


def _smoke_records(site) -> tuple[int, int]:
    first = [r for a in site.uploads["smoke-first"] for r in a["records_established"]]
    faster = [r for a in site.uploads["smoke-faster"] for r in a["records_established"]]
    times = {
        name: [a["run"]["time_ms"] for a in site.uploads[name]]
        for name in ("smoke-first", "smoke-faster")
    }
    assert len(first) == 1, f"the slower variant made no cpu-smoke record: {site.uploads}"
    assert len(faster) == 1, f"the seed recipe did not beat 3x its steps on time: {times}"
    return first[0], faster[0]


def test_track_page_ranks_as_the_api_and_a_click_reaches_the_record(site, browser):
    first, faster = _smoke_records(site)
    browser.get(f"{site.base}/tracks/cpu-smoke")
    api = site.api("/api/v1/tracks/cpu-smoke/leaderboard")
    assert _row_ids(browser, "board") == [e["record_id"] for e in api["entries"]] == [faster, first]
    current = browser.find_element(By.CSS_SELECTOR, "#board tbody tr.current")
    assert current.get_attribute("data-record") == str(faster)
    assert "superseded" in browser.find_element(By.CSS_SELECTOR, "#board tbody tr.superseded").text
    twin = browser.find_element(By.CSS_SELECTOR, 'link[rel="alternate"]').get_attribute("href")
    assert [e["record_id"] for e in httpx.get(twin).json()["entries"]] == [faster, first]
    stair = browser.find_element(By.CSS_SELECTOR, "svg.chart.progression path.stair")
    assert stair.get_attribute("d").count("V") == 1  # two records: one step down
    screenshot(browser, "track-cpu-smoke")
    browser.find_element(By.CSS_SELECTOR, f'#board tr[data-record="{faster}"] th a').click()
    WebDriverWait(browser, 10).until(ec.url_contains(f"/records/{faster}"))
    assert "current record" in browser.find_element(By.TAG_NAME, "h1").text


def test_index_lists_the_public_tracks_main_first(site, browser):
    browser.get(f"{site.base}/")
    headings = browser.find_elements(By.CSS_SELECTOR, "section.board-section > h2")
    ids = [h.get_attribute("id").removeprefix("t-") for h in headings]
    assert ids[0] == "gpt2-124m-8xh100" and "cpu-smoke" not in ids  # hidden by default
    families = [get_track(i).family for i in ids]
    assert families == sorted(families, key=lambda f: f == "imported")
    for track_id in ids:  # each board ranks as its API does
        api = site.api(f"/api/v1/tracks/{track_id}/leaderboard?limit=10")
        if api["entries"]:
            assert _row_ids(browser, f"board-{track_id}") == [
                e["record_id"] for e in api["entries"]
            ]
    screenshot(browser, "index")
    browser.get(f"{site.base}/?hidden=1")
    assert browser.find_element(By.ID, "board-cpu-smoke")
    screenshot(browser, "index-with-hidden-tracks")


def test_record_page_draws_curves_and_the_diff(site, browser, real_bundles):
    first, faster = _smoke_records(site)
    browser.get(f"{site.base}/records/{faster}")
    lines = browser.find_elements(By.CSS_SELECTOR, "svg.chart.lines polyline")
    assert len(lines) == 2 * SMOKE_RUNS  # each run against training time and against tokens
    for line in lines:
        points = line.get_attribute("points").split()
        assert len(points) >= 3 and len(set(points)) > 1
    svg = browser.find_element(By.CSS_SELECTOR, "svg.chart.lines")
    assert svg.size["width"] > 200 and svg.size["height"] > 80
    added = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#diff .dl.add")]
    removed = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#diff .dl.del")]
    assert any("web tests: three times the steps" in line for line in removed), removed
    assert len(added) == len(removed) == 1, (added, removed)
    assert browser.find_elements(By.CSS_SELECTOR, "pre.code .ln .kn")  # highlighted code
    page = browser.page_source
    assert "speedrun run train_gpt.py --track cpu-smoke@v2 --runs 2" in page
    assert "step:" in browser.find_element(By.CSS_SELECTOR, "pre.log").text
    screenshot(browser, "record-cpu-smoke-faster")
    browser.get(f"{site.base}/records/{first}")
    assert (
        "first record on cpu-smoke@v2"
        in browser.find_element(By.ID, "h-diff").find_element(By.XPATH, "..").text
    )
    screenshot(browser, "record-cpu-smoke-first")


def test_run_pages_of_real_runs(site, browser, real_bundles):
    tiny = site.uploads["tiny"][0]["run"]
    browser.get(f"{site.base}/runs/{tiny['run_id']}")
    assert tiny["run_id"] in browser.find_element(By.TAG_NAME, "h1").text
    # The loss chart (its section) holds the run's two curves; the telemetry chart of the
    # machine section draws load, busy and steal from the bundle's telemetry.jsonl.
    curves = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=h-curves]")
    assert len(curves.find_elements(By.CSS_SELECTOR, "svg.chart.lines polyline")) == 2
    telemetry = browser.find_element(By.CSS_SELECTOR, "[data-field=telemetry]")
    assert "load" in telemetry.text
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart.lines polyline")
    assert len(charts) == 2 + 3, "the telemetry chart's three lines"
    assert "torch" in browser.find_element(By.ID, "h-fp").find_element(By.XPATH, "..").text
    screenshot(browser, "run-cpu-tiny")
    log = httpx.get(f"{site.base}/runs/{tiny['run_id']}/log.txt")
    assert log.status_code == 200 and "step:" in log.text
    if len(real_bundles.tiny) >= get_track("cpu-tiny").rules.runs_required:
        made = [r for a in site.uploads["tiny"] for r in a["records_established"]]
        assert made, "three seed-recipe runs made no cpu-tiny record"
        browser.get(f"{site.base}/records/{made[0]}")
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart.lines polyline")) == 6
        screenshot(browser, "record-cpu-tiny")


def test_submission_page_updates_itself_while_queued(site, browser, real_bundles):
    with site.app.state.speedrun.db.write() as session:
        _, token = create_token(session, "web-tester")
    answer = httpx.post(
        f"{site.base}/api/v1/submissions",
        json={
            "track": "cpu-smoke",
            "source": real_bundles.slower_source + "\n# resubmitted by the web tests\n",
            "description": "The seed recipe at three times the steps, queued for an agent.",
        },
        headers={"authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    sub = answer.json()
    browser.get(f"{site.base}/submissions/{sub['id']}")
    assert "PENDING" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot(browser, "submission-pending")
    with site.app.state.speedrun.db.write() as session:  # what an agent's completion does
        session.execute(update(Job).where(Job.id == sub["job"]["id"]).values(state="FINISHED"))
    try:  # the page polls its JSON twin every 5 s and reloads itself when the job ends
        WebDriverWait(browser, 30).until(
            lambda b: (
                not b.find_elements(By.ID, "refresh-note")
                and "FINISHED" in b.find_element(By.TAG_NAME, "h1").text
            )
        )
    except TimeoutException:
        pytest.fail("the submission page did not update itself")
    screenshot(browser, "submission-finished")


def test_phone_layout_scrolls_tables_not_the_page(site, browser):
    _, faster = _smoke_records(site)
    browser.set_window_size(390, 844)
    try:
        for path, name in (("/tracks/cpu-smoke", "track"), (f"/records/{faster}", "record")):
            browser.get(site.base + path)
            page_width = browser.execute_script("return document.documentElement.scrollWidth")
            view_width = browser.execute_script("return window.innerWidth")
            assert page_width <= view_width + 1, f"{path} scrolls sideways on a phone"
            wrap = browser.find_element(By.CSS_SELECTOR, ".table-wrap")
            assert (
                browser.execute_script("return arguments[0].scrollWidth", wrap) > wrap.size["width"]
            )  # the table scrolls inside its frame
            screenshot(browser, f"phone-{name}")
    finally:
        browser.set_window_size(1280, 1000)


def test_keyboard_reaches_the_content_and_shows_focus(site, browser):
    browser.get(f"{site.base}/tracks/cpu-smoke")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    active = browser.switch_to.active_element
    assert active.get_attribute("class") == "skip" and active.text == "Skip to content"
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    active.send_keys(Keys.ENTER)
    time.sleep(0.2)
    assert browser.switch_to.active_element.get_attribute("id") == "main"
    # the filter works without JavaScript: a plain GET form
    form = browser.find_element(By.CSS_SELECTOR, "form.filter")
    assert form.get_attribute("method") == "get"
    browser.find_element(By.CSS_SELECTOR, '#evidence option[value="imported"]').click()
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(browser, 10).until(ec.url_contains("evidence=imported"))
    assert "No record on this track matches" in browser.page_source


def test_error_page_for_an_unknown_record(site, browser):
    browser.get(f"{site.base}/records/999999")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("404")
    screenshot(browser, "error-404")


def test_imported_history(site, browser):
    if site.history is not None:
        pytest.skip(f"imported history not loaded: {site.history}")
    for track_id in ("modded-nanogpt-short", "modded-nanogpt-optimization"):
        api = site.api(f"/api/v1/tracks/{track_id}/leaderboard")
        assert api["total"] > 0, f"the import made no records on {track_id}"
        browser.get(f"{site.base}/tracks/{track_id}")
        ids = _row_ids(browser, "board")
        assert ids == [e["record_id"] for e in api["entries"]][: len(ids)]
        assert "imported history" in browser.find_element(By.TAG_NAME, "h1").text
        screenshot(browser, f"track-{track_id}")
    record = site.api("/api/v1/tracks/modded-nanogpt-short/leaderboard")["entries"][0]
    browser.get(f"{site.base}/records/{record['record_id']}")
    assert "imported history" in browser.find_element(By.CSS_SELECTOR, "ul.badges").text
    screenshot(browser, "record-imported")
