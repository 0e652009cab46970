"""gankit compare: the runs' curves overlaid, their latest metrics, where their configs differ, their grids; one
self-contained page, rendered in a real headless Chromium."""

import functools
import http.server
import json
import os
import threading
from pathlib import Path

import pytest

from gankit.config import apply_overrides, load_preset
from gankit.report.compare import differing_config, render_comparison, write_comparison
from gankit.train import train
from helpers import run_cli

CHROMIUM = Path(os.environ.get("GANKIT_TEST_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    runs = []
    for seed in (0, 1):
        cfg = apply_overrides(load_preset("quick-mlp"), [
            "data.name=digits", "G.hidden=[16]", "D.hidden=[16]", "z_dim=4",
                                                     "train.steps=12", "train.batch=16", "train.log_every=3",
                                                     "train.snapshot_every=6", f"train.seed={seed}", "train.grid=16"])
        runs.append(train(cfg, out=out, progress=False, report=False).run_dir)
    with open(runs[0] / "metric-fid.jsonl", "w") as f:  # one run has a metric, the other none
        f.write(json.dumps({"metric": "fid", "value": 12.5, "features": "digits", "protocol": {}}) + "\n")
    return runs


def test_the_page_holds_both_runs(two_runs, tmp_path, capsys):
    page = render_comparison(two_runs)
    for run in two_runs:
        assert run.name in page
    assert page.count("<img") >= 2 + 2  # at least the loss_D and loss_G charts and both grids
    assert "fid.value" in page and "12.5" in page
    assert "train.seed" in page and "<td>0</td><td>1</td>" in page.replace(" ", "")
    assert "://" not in page and "<script" not in page  # self-contained: no address to load anything from
    code, out, err = run_cli(["compare", *map(str, two_runs), "--out", str(tmp_path / "c.html")], capsys)
    assert code == 0 and (tmp_path / "c.html").read_text().startswith("<!doctype html>"), err


def test_bad_input_is_one_line(two_runs, tmp_path, capsys):
    for args, needle in [([str(two_runs[0])], "at least two"), ([str(two_runs[0]), str(tmp_path / "none")],
                                                                "does not exist")]:
        code, _, err = run_cli(["compare", *args, "--out", str(tmp_path / "x.html")], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_differing_config_lists_only_what_differs():
    assert differing_config([{"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 4}]) == {"b.c": [2, 3],
                                                                                          "d": [None, 4]}


def test_the_page_renders_in_headless_chromium(two_runs, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make test installs Debian's chromium with apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api")
    out = write_comparison(two_runs, tmp_path / "compare.html")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    requests = []
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            try:
                page = browser.new_page()
                page.on("request", lambda r: requests.append(r.url))
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/{out.name}", wait_until="load")
                images = page.evaluate("""async () => Promise.all([...document.images].map(async img => {
                    try { await img.decode(); return img.naturalWidth > 0; } catch (e) { return false; }
                }))""")
                headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert images and all(images)
    assert headings == ["Curves", "Latest metrics", "Where the configs differ", "Latest samples"]
    assert len(requests) == 1  # the page itself; every picture is embedded
