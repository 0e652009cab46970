"""gankit report: the warnings on synthetic runs (both directions), bad input, the page's content,
and its rendering in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""

import base64
import functools
import http.server
import io
import json
import os
import math
import random
import re
import threading
from pathlib import Path

import pytest
from PIL import Image

from gankit.cli import main
from gankit.report import (find_warnings, moving_average, pick_grids, warn_d_wins, warn_mode_collapse,
                           warn_nonfinite, write_report)
from helpers import user_error

CHROMIUM = Path(os.environ.get("GANKIT_TEST_CHROMIUM", "/usr/bin/chromium"))
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# ---------------------------------------------------------------------------------------------
# Synthetic runs


def bce_rows(n=200, d_real=0.7, d_fake=0.3, tail=None, seed=0):
    """n stats rows of a bce run around (d_real, d_fake); tail=(r, f) replaces the last 20%."""
    rng = random.Random(seed)
    rows = []
    for step in range(1, n + 1):
        r, f = tail if tail and step > 0.8 * n else (d_real, d_fake)
        r = min(0.999, max(0.001, r + rng.uniform(-0.02, 0.02)))
        f = min(0.999, max(0.001, f + rng.uniform(-0.02, 0.02)))
        rows.append({"step": step, "loss_D": -math.log(r) - math.log(1 - f), "loss_G": -math.log(f),
                     "D_real": r, "D_fake": f, "grad_norm_D": 1.0 + rng.random(), "grad_norm_G": 0.5 + rng.random(),
                     "lr_g": 2e-4})
    return rows


def hinge_rows(n=200, collapse=False, seed=0):
    """A hinge run; collapse=True: loss_D goes to 0 and loss_G rises over the last 40%."""
    rng = random.Random(seed)
    rows = []
    for step in range(1, n + 1):
        late = collapse and step > 0.6 * n
        loss_d = 0.001 if late else 1.6 + rng.uniform(-0.1, 0.1)
        loss_g = (1.0 + 3.0 * (step - 0.6 * n) / n) if late else 0.3 + rng.uniform(-0.05, 0.05)
        rows.append({"step": step, "loss_D": loss_d, "loss_G": loss_g, "score_real": 1.5 if late else 0.3,
                     "score_fake": -loss_g, "grad_norm_D": 2.0, "grad_norm_G": 1.0, "lr_g": 2e-4})
    return rows


def png_bytes(seed, size=(40, 40)):
    img = Image.effect_noise(size, 40 + seed)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_run(root, rows=None, d_loss="bce", grid_steps=(), metrics=None, config_extra=None, name="run"):
    """A run directory as gankit train and gankit eval write it, from synthetic parts."""
    run = Path(root) / name
    run.mkdir(parents=True)
    cfg = {"preset": "synthetic", "description": "a synthetic run for the report tests", "z_dim": 8,
           "data": {"name": "ring8"},
           "loss": {"d_loss": d_loss, "g_loss": "nonsaturating" if d_loss == "bce" else d_loss},
           "train": {"steps": len(rows or []), "batch": 64}, **(config_extra or {})}
    (run / "config.json").write_text(json.dumps(cfg, indent=2))
    if rows is not None:
        (run / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for i, step in enumerate(grid_steps):
        (run / f"samples-{step:06d}.png").write_bytes(png_bytes(i))
    if grid_steps:
        (run / "samples.png").write_bytes((run / f"samples-{grid_steps[-1]:06d}.png").read_bytes())
    for name_, records in (metrics or {}).items():
        with open(run / f"metric-{name_}.jsonl", "w") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
    return run


def modes_record(covered, n_modes=8, step=2000, hq=0.8):
    """A record in the form gankit.evaluate appends to metric-modes.jsonl."""
    counts = [300 if i < covered else 0 for i in range(n_modes)]
    return {"time": "2026-11-22T10:00:00", "metric": "modes", "modes_covered": covered, "n_modes": n_modes,
            "high_quality": hq, "kl": 0.1, "n_samples": 2500, "n_sigma": 3.0, "counts": counts,
            "protocol": {"n_generated": 10000, "seed": 0, "data": "ring8", "split": "test",
                         "checkpoint": "runs/x/checkpoint.pt", "step": step, "seconds": 0.2}}


def classes_record(counts, kl, step=3000):
    """A record in the form gankit.evaluate appends to metric-classes.jsonl (1-channel digits)."""
    return {"time": "2026-11-22T10:00:00", "metric": "classes", "classes_covered": sum(c > 0 for c in counts),
            "n_classes": len(counts), "kl": kl, "counts": counts, "n_samples": sum(counts), "classifier": "digits",
            "protocol": {"n_generated": sum(counts), "seed": 0, "data": "mnist-5k", "split": "test",
                         "checkpoint": "runs/x/checkpoint.pt", "step": step, "seconds": 1.0}}


# ---------------------------------------------------------------------------------------------
# Warnings: each fires on its failure and stays quiet on a healthy run


def test_d_winning_fires_on_a_saturated_bce_tail_with_its_numbers():
    w = warn_d_wins(bce_rows(tail=(0.99, 0.01)), "bce")
    assert w is not None and w.startswith("D is winning outright")
    assert "steps 161-200" in w and re.search(r"D\(x\) averaged 0\.9\d\d", w) and re.search(r"D\(G\(z\)\) 0\.0\d\d", w)
    assert "optim.lr_d" in w  # says what to try


def test_d_winning_is_quiet_on_healthy_runs_early_transients_and_borderline_values():
    assert warn_d_wins(bce_rows(), "bce") is None
    early = bce_rows(d_real=0.99, d_fake=0.01, tail=(0.7, 0.3))  # D won early, G caught up
    assert warn_d_wins(early, "bce") is None
    assert warn_d_wins(bce_rows(tail=(0.99, 0.2)), "bce") is None  # D(x) high but G still fools D
    assert warn_d_wins(bce_rows(n=9, d_real=0.99, d_fake=0.01), "bce") is None  # too few steps to judge


def test_d_winning_on_hinge_needs_loss_d_near_zero_and_loss_g_rising():
    w = warn_d_wins(hinge_rows(collapse=True), "hinge")
    assert w is not None and "loss_D averaged 0.0010" in w and "loss_G rose" in w
    assert warn_d_wins(hinge_rows(), "hinge") is None
    falling = [{**r, "loss_G": 5.0 - r["step"] / 100} for r in hinge_rows(collapse=True)]  # loss_D 0, loss_G falling
    assert warn_d_wins(falling, "hinge") is None
    assert warn_d_wins(hinge_rows(collapse=True), "wasserstein") is None  # no floor to compare with


def test_mode_collapse_from_modes_records():
    (w,) = warn_mode_collapse({"modes": modes_record(2)})
    assert w.startswith("Mode collapse") and "2 of 8 modes covered (25%" in w and "step 2000" in w and "D.pac" in w
    assert warn_mode_collapse({"modes": modes_record(8)}) == []
    assert warn_mode_collapse({"modes": modes_record(4)}) == []  # half the modes: at the threshold, not below
    # the latest record counts: collapsed earlier, covered now
    assert warn_mode_collapse({"modes": [modes_record(1, step=500), modes_record(8)]}) == []
    assert len(warn_mode_collapse({"modes": [modes_record(8, step=500), modes_record(1)]})) == 1


def test_mode_collapse_from_classes_records():
    healthy = classes_record([100] * 10, kl=0.0)
    assert warn_mode_collapse({"classes": healthy}) == []
    few = classes_record([500, 300, 200] + [0] * 7, kl=1.26)
    (w,) = warn_mode_collapse({"classes": few})
    assert "3 of 10 classes" in w and "1.260 nats" in w
    uneven = classes_record([910] + [10] * 9, kl=1.9)  # every class present, but one dominates
    (w,) = warn_mode_collapse({"classes": uneven})
    assert "10 of 10 classes" in w and "1.900 nats" in w
    # stacked MNIST: 1,000 modes; 1,000 samples reach about 632 even from a perfect generator
    stacked = {"modes_covered": 600, "n_modes": 1000, "kl": 0.4, "n_samples": 1000}
    assert warn_mode_collapse({"classes": stacked}) == []
    (w,) = warn_mode_collapse({"classes": {**stacked, "modes_covered": 200}})
    assert "200 of 1000 modes" in w and "about 632" in w


def test_nonfinite_values_are_reported_with_the_first_step():
    rows = bce_rows(n=20)
    assert warn_nonfinite(rows) is None
    rows[12]["loss_G"] = float("nan")
    rows[15]["grad_norm_D"] = float("inf")
    rows[16]["loss_D"] = None
    w = warn_nonfinite(rows)
    assert w.startswith("Non-finite values") and "loss_G was nan at step 13" in w and "3 such values" in w
    assert "loss_G, grad_norm_D, loss_D" in w


def test_find_warnings_collects_all_three_and_nothing_on_a_healthy_run():
    assert find_warnings(bce_rows(), {"modes": [modes_record(8)]}, "bce") == []
    rows = bce_rows(tail=(0.99, 0.01))
    rows[3]["loss_D"] = float("inf")
    ws = find_warnings(rows, {"modes": [modes_record(1)]}, "bce")
    assert [w.split(":")[0] for w in ws] == ["Non-finite values in stats.jsonl", "D is winning outright",
                                             "Mode collapse"]


def test_moving_average_and_grid_picking():
    assert moving_average([1, 2, 3, float("nan"), 5], 3) == [1.5, 2.0, 2.5, 4.0, 5.0]
    assert pick_grids(list(range(5)), 12) == [0, 1, 2, 3, 4]
    picked = pick_grids(list(range(40)), 12)
    assert len(picked) == 12 and picked[0] == 0 and picked[-1] == 39 and picked == sorted(set(picked))


# ---------------------------------------------------------------------------------------------
# Bad input: one line that says what, where and what was expected


def test_bad_run_directories(tmp_path):
    user_error(lambda: write_report(tmp_path / "nope"), "nope", "does not exist", "config.json")
    (tmp_path / "file.txt").write_text("x")
    user_error(lambda: write_report(tmp_path / "file.txt"), "file.txt", "not a run directory")
    (tmp_path / "empty").mkdir()
    user_error(lambda: write_report(tmp_path / "empty"), "empty", "has no config.json")
    run = make_run(tmp_path, bce_rows(n=5))
    (run / "config.json").write_text("{not json")
    user_error(lambda: write_report(run), "config.json", "not valid JSON")


@pytest.mark.parametrize("line, needle", [
    ('{"step": 3, "loss_D": 0.5', "line 3 is not valid JSON"),
    ('[1, 2]', "line 3 is a JSON list, not an object"),
    ('{"loss_D": 0.5}', "line 3: step is None"),
    ('{"step": 3, "loss_D": "high"}', "line 3: loss_D is 'high', not a number"),
])
def test_malformed_stats_line_names_file_and_line(tmp_path, line, needle):
    run = make_run(tmp_path, bce_rows(n=2))
    with open(run / "stats.jsonl", "a") as f:
        f.write(line + "\n")
    user_error(lambda: write_report(run), "stats.jsonl", needle, "expected one JSON object per line")


def test_malformed_metric_line_and_cli_exit_code(tmp_path, capsys):
    run = make_run(tmp_path, bce_rows(n=2))
    (run / "metric-fid.jsonl").write_text('{"metric": "fid", "value": 3.1}\n{"metric": \n')
    user_error(lambda: write_report(run), "metric-fid.jsonl", "line 2 is not valid JSON")
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path / "missing")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: run directory") and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# The page itself


def srcs_and_hrefs(page):
    return re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page)


def test_page_embeds_the_grids_and_curves_and_loads_nothing_from_outside(tmp_path):
    steps = [100 * i for i in range(1, 21)]  # 20 grids: 12 shown
    run = make_run(tmp_path, bce_rows(n=1000, tail=(0.99, 0.01)), grid_steps=steps,
                   metrics={"modes": [modes_record(8, step=1000), modes_record(2)],
                            "fid": [{"time": "t", "metric": "fid", "value": 12.5, "features": "digits",
                                     "protocol": {"step": 2000, "n_generated": 10000}}]})
    out = write_report(run)
    assert out == run / "report.html"
    page = out.read_text()
    links = srcs_and_hrefs(page)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", page)
    assert all(u.startswith(("data:", "#")) for u in links), [u[:40] for u in links if not u.startswith(("data:", "#"))]
    assert "<script" not in page and "<link rel=\"stylesheet\"" not in page and "@import" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    for b64 in images:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    embedded = {base64.b64decode(b) for b in images}
    grid_files = sorted(run.glob("samples-*.png"))
    shown = [p for p in grid_files if p.read_bytes() in embedded]
    assert len(shown) == 12 and shown[0].name == "samples-000100.png" and shown[-1].name == "samples-002000.png"
    captions = re.findall(r"<figcaption>step (\d+)</figcaption>", page)
    assert len(captions) == 12 and captions[0] == "100" and captions[-1] == "2000"
    # latest grid + 12 grids + 3 curves + 1 histogram of the modes record
    assert len(images) == 17
    for heading in ("Warnings", "Samples over time", "Curves", "Metrics", "Config"):
        assert f">{heading}</h2>" in page
    assert page.count('class="warn"') == 2 and "D is winning outright" in page and "2 of 8 modes covered" in page
    assert "fid" in page and "value=12.5" in page and "2 records" in page


def test_text_is_escaped(tmp_path):
    run = make_run(tmp_path, bce_rows(n=5), config_extra={"description": '<script>alert("x")</script> & <b>'},
                   metrics={"fid": [{"metric": "fid", "value": 1.0, "features": "<img src=x onerror=alert(1)>"}]})
    page = write_report(run, tmp_path / "out.html").read_text()
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in page


def test_short_runs_still_get_a_page(tmp_path):
    bare = make_run(tmp_path, None, name="bare")  # config.json only: before the first log
    page = write_report(bare).read_text()
    assert "No sample grids yet" in page and "No statistics logged yet" in page and "No metrics recorded yet" in page
    few = make_run(tmp_path, bce_rows(n=3, d_real=0.99, d_fake=0.01), name="few")
    (tmp_path / "reports").mkdir()
    assert write_report(few, tmp_path / "reports") == tmp_path / "reports" / "report.html"  # a folder: inside it
    out = write_report(few, tmp_path / "new" / "dir" / "few.html")  # missing folders are made
    assert out == tmp_path / "new" / "dir" / "few.html"
    page = out.read_text()
    assert "only 3 steps logged" in page and 'class="warn"' not in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3  # the three curves, no grids


def test_nonfinite_stats_written_by_json_still_render(tmp_path):
    rows = bce_rows(n=40)
    rows[30]["loss_D"] = float("nan")
    rows[31]["grad_norm_G"] = float("inf")
    run = make_run(tmp_path, rows, d_loss="bce")
    assert "NaN" in (run / "stats.jsonl").read_text()  # as json.dumps writes it, and StatsLog too
    page = write_report(run).read_text()
    assert "Non-finite values in stats.jsonl: loss_D was nan at step 31" in page


def test_critic_scores_for_non_bce_runs(tmp_path):
    run = make_run(tmp_path, hinge_rows(collapse=True), d_loss="hinge")
    page = write_report(run).read_text()
    assert "Critic scores" in page and "D(x) and D(G(z))" not in page
    assert "D is winning outright" in page


# ---------------------------------------------------------------------------------------------
# The page in a real browser


@pytest.fixture(scope="module")
def sync_api():
    """Playwright's sync API, or a skip with the reason (checked before any training is spent)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make test installs Debian's chromium with apt-get)")
    return pytest.importorskip("playwright.sync_api",
                               reason="the playwright package is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny real run on the bundled digits (bce: D(x) curves, image grids) plus a recorded metric."""
    from gankit.config import apply_overrides, load_preset
    from gankit.train import train

    cfg = apply_overrides(load_preset("quick-mlp"), [
        "data.name=digits", "G.hidden=[64]", "D.hidden=[64]", "z_dim=16", "train.batch=32", "train.steps=30",
        "train.snapshot_every=10", "train.log_every=5", "train.grid=36"])
    res = train(cfg, out=tmp_path_factory.mktemp("runs"), progress=False)
    # a classes record as gankit eval writes it, collapsed onto two digits, so the page shows a warning
    with open(res.run_dir / "metric-classes.jsonl", "w") as f:
        f.write(json.dumps(classes_record([600, 400] + [0] * 8, kl=1.63, step=30)) + "\n")
    return res.run_dir


def test_report_renders_in_headless_chromium(sync_api, trained_run, tmp_path):
    out = write_report(trained_run)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{out.name}"
    problems, requests = [], []
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=BROWSER_FLAGS,
                viewport={"width": 1200, "height": 900})
            try:
                page = browser.new_page()
                page.set_default_timeout(30_000)
                page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                        if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
                page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
                page.on("request", lambda r: requests.append(r.url))
                response = page.goto(url, wait_until="load")
                assert response is not None and response.status == 200
                images = page.evaluate("""async () => Promise.all([...document.images].map(async img => {
                    let decoded = true;
                    try { await img.decode(); } catch (e) { decoded = false; }
                    return {alt: img.alt, complete: img.complete, decoded, w: img.naturalWidth, h: img.naturalHeight,
                            shown: img.getBoundingClientRect().width, src: img.src.slice(0, 22)};
                }))""")
                headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
                warnings = page.eval_on_selector_all(".warn", "els => els.map(e => e.innerText)")
                title = page.title()
                page.screenshot(path=str(tmp_path / "shot.png"), full_page=True)
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()

    assert problems == []
    assert [u for u in requests if not u.startswith("data:")] == [url]  # the page itself, nothing else
    # samples.png + 3 grids (steps 10, 20, 30) + losses, D(x)/D(G(z)), gradient norms + class histogram
    assert len(images) == 8, images
    for img in images:
        assert img["complete"] and img["decoded"] and img["w"] > 0 and img["h"] > 0 and img["shown"] > 0, img
        assert img["src"] == "data:image/png;base64,"
    alts = [i["alt"] for i in images]
    assert ([a for a in alts if a.startswith("sample grid at step")]
            == [f"sample grid at step {s}" for s in (10, 20, 30)])
    assert {"Losses", "D(x) and D(G(z))", "Gradient norms"} <= set(alts)
    assert headings == ["Warnings", "Samples over time", "Curves", "Metrics", "Config"]
    assert title == f"gankit report: {trained_run.name}"
    assert len(warnings) == 1 and "2 of 10 classes" in warnings[0]
    assert Image.open(tmp_path / "shot.png").size[0] == 1200


def test_the_report_reads_an_image_to_image_run_trained_by_the_same_engine(tmp_path):
    from gankit.translate import train_translation

    tiny = {"g_base": 4, "d_base": 4, "g_depth": 2, "n_train": 64, "batch": 8, "threads": 1}
    r = train_translation("pix2pix", {**tiny, "steps": 4, "snapshot_every": 2, "log_every": 1}, out=tmp_path,
                          progress=False)
    page = write_report(r.run_dir).read_text()
    assert "task edges" in page and "the pix2pix system" in page  # not "data ?" / "G ?"
    assert "No sample grids yet" not in page
    assert page.count("<figcaption>step ") == 2  # samples-000002.png and samples-000004.png, as every run
    assert "samples.png: the latest grid" in page
