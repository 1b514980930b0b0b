"""Does every lesson run in JupyterLab, in a real browser, as a learner meets it?

For each lesson: Run All from the menu; no traceback in any output; every plot rendered (an image that
loaded); every widget rendered, and one interaction per interactive widget changes what it shows; every
self-check answers a click; no widget label cut off. Time to idle is recorded (printed, never asserted).
One assessment's student version opens with its prompts rendered as headings and lists.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.lab, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUN_ALL_TIMEOUT_S = 240


def _shutdown_kernels(lab) -> None:
    """Each test leaves no kernel behind (the leak check in tests/conftest.py looks)."""
    def call(method, path):
        req = urllib.request.Request(f"{lab['base']}{path}?token={lab['token']}", method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    for kernel in call("GET", "/api/kernels") or []:
        call("DELETE", f"/api/kernels/{kernel['id']}")
    deadline = time.monotonic() + 30
    while call("GET", "/api/kernels") and time.monotonic() < deadline:
        time.sleep(0.2)
    import psutil         # and every process a kernel started (a lesson's Redis, servers) is gone, not only listed

    def alive():
        try:
            return [p for p in psutil.Process(lab["pid"]).children(recursive=True)
                    if p.status() != psutil.STATUS_ZOMBIE]
        except psutil.Error:
            return []

    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)


def _descendants() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}


def _wait_back_to(before: set[int], seconds: float = 60) -> None:
    """Chromium's renderer of a closed page, a kernel and what it started take a while to exit on a loaded
    machine: wait until this test's processes are gone (the leak check in tests/conftest.py then agrees)."""
    deadline = time.monotonic() + seconds
    while _descendants() - before and time.monotonic() < deadline:
        time.sleep(0.2)


def _accept_kernel_dialog(page) -> None:
    """JupyterLab asks "Select Kernel" when it opens a notebook without starting one: take the default."""
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    if dialog.count():
        dialog.first.click()


def _open(page, lab, path: str):
    page.goto(f"{lab['base']}/lab/tree/{path}?token={lab['token']}&reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    deadline = time.monotonic() + 180
    while not _kernel_ready(lab, path):          # the page's kernel is started, connected and idle
        _accept_kernel_dialog(page)
        if time.monotonic() > deadline:
            pytest.fail(f"{path}: the kernel did not start, connect and become idle within 180 s")
        page.wait_for_timeout(300)


def _kernel_ready(lab, path: str) -> bool:
    url = f"{lab['base']}/api/sessions?token={lab['token']}"
    with urllib.request.urlopen(url, timeout=30) as r:
        sessions = json.loads(r.read())
    return any(s.get("path") == path and s["kernel"].get("execution_state") == "idle"
               and s["kernel"].get("connections", 0) >= 1 for s in sessions)


def _click_run_all(page) -> None:
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})   # the notebook is the current widget
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def _run_all(page) -> float:
    t0 = time.monotonic()
    started = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                        .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
    for _ in range(3):                            # a click before JupyterLab is ready is ignored: click again
        _click_run_all(page)
        try:
            page.wait_for_function(started, timeout=30_000, polling=250)
            break
        except Exception:
            _accept_kernel_dialog(page)
    done = """() => {
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
        return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
    }"""
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    while not page.evaluate(done):
        _accept_kernel_dialog(page)
        if time.monotonic() > deadline:
            prompts = page.evaluate("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                                    ".map(p => p.textContent.trim())")
            shot = Path(tempfile.gettempdir()) / f"course-browser-{int(time.time())}.png"
            page.screenshot(path=str(shot), full_page=True)
            pytest.fail(f"Run All did not finish in {RUN_ALL_TIMEOUT_S} s; prompts {prompts}; screenshot {shot}")
        page.wait_for_timeout(500)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000)
    return time.monotonic() - t0


def _problems(page) -> list[str]:
    return page.evaluate("""() => {
        const out = [];
        document.querySelectorAll('.jp-OutputArea-output').forEach((o, i) => {
            const t = o.textContent || '';
            if (/Traceback \\(most recent call last\\)/.test(t)) out.push('traceback: ' + t.slice(0, 300));
            if (/Error displaying widget|Failed to load model class/.test(t)) out.push('widget failed: ' + t.slice(0, 200));
        });
        document.querySelectorAll('.jp-OutputArea-output img').forEach(img => {
            if (!img.complete || img.naturalWidth === 0) out.push('a plot image did not load');
        });
        document.querySelectorAll('.widget-label, .widget-toggle-button, .widget-dropdown select').forEach(el => {
            if (el.offsetParent !== null && el.scrollWidth > el.clientWidth + 2)
                out.push('label cut off: ' + (el.textContent || el.value || '').trim().slice(0, 60));
        });
        return out;
    }""")


def _interact_with_widgets(page) -> tuple[int, list[str]]:
    """Change the first control of every interactive widget and answer every self-check; return how many
    changed what they show, and what did not."""
    changed, failures = 0, []
    interacts = page.locator(".widget-interact")
    for i in range(interacts.count()):
        box = interacts.nth(i)
        box.scroll_into_view_if_needed()
        output = box.locator(".widget-output").last
        before = output.inner_html()
        if box.locator(".widget-toggle-buttons").count():
            box.locator(".widget-toggle-button:not(.mod-active)").first.click()
        elif box.locator("select").count():
            sel = box.locator("select").first
            options = sel.locator("option").all_text_contents()
            current = sel.input_value()
            values = sel.evaluate("s => [...s.options].map(o => o.value)")
            sel.select_option(next(v for v in values if v != current) if len(values) > 1 else values[0])
        elif box.locator(".noUi-handle").count():
            handle = box.locator(".noUi-handle").first
            handle.focus()
            handle.press("ArrowRight")
        elif box.locator("input[type=checkbox]").count():
            box.locator("input[type=checkbox]").first.click()
        elif box.locator(".widget-text input, .widget-textarea textarea").count():
            field = box.locator(".widget-text input, .widget-textarea textarea").first
            field.fill(field.input_value() + " ")          # same value, edited as a learner would
            field.press("Enter")
        else:
            failures.append(f"interactive widget {i}: no control this test knows how to change")
            continue
        manual = box.locator("button.widget-button, .widget-button")
        if manual.count():                                  # interactive(..., {"manual": True}): press its button
            manual.first.click()
        try:
            page.wait_for_function("([el, before]) => el.innerHTML !== before",
                                   arg=[output.element_handle(), before], timeout=90_000, polling=250)
            changed += 1
        except Exception:
            failures.append(f"interactive widget {i}: changing its control did not change its output")
    checks = page.locator("button", has_text=re.compile(r"^Check$"))
    for i in range(checks.count()):
        button = checks.nth(i)
        question = button.locator("xpath=..")             # the question's box: prompt, options, button, answer
        question.scroll_into_view_if_needed()
        question.locator("input[type=radio]").first.check()
        button.click()
        feedback = question.locator(".widget-html").last
        try:
            page.wait_for_function("el => /Correct|Not quite/.test(el.textContent)",
                                   arg=feedback.element_handle(), timeout=30_000)
            changed += 1
        except Exception:
            failures.append(f"self-check question {i + 1}: Check showed no explanation")
    return changed, failures


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_in_jupyterlab(lesson, lab, browser):
    before = _descendants()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(page, lab, lesson)
        seconds = _run_all(page)
        problems = _problems(page)
        images = page.locator(".jp-OutputArea-output img").count()
        widgets = page.locator(".jp-OutputArea-output .jupyter-widgets").count()
        changed, failures = _interact_with_widgets(page) if widgets else (0, [])
        print(f"\n{lesson}: idle after Run All in {seconds:.1f} s; {images} plots, {widgets} widget views, "
              f"{changed} interactions answered")
        assert not problems, f"{lesson}: {problems}"
        assert not failures, f"{lesson}: {failures}"
        if lesson != "00_start.ipynb":
            assert images > 0, f"{lesson}: no plot rendered"
            assert widgets > 0, f"{lesson}: no widget rendered (every lesson ends with a self-check)"
    finally:
        page.close()
        _shutdown_kernels(lab)
        _wait_back_to(before)


def test_assessment_student_version_renders_prompts(lab, browser):
    """The student version of the Caching assessment: prompts as headings and option lists, not code blocks."""
    before = _descendants()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(page, lab, "assessments/release/08_caching/08_caching.ipynb")
        page.wait_for_selector(".jp-MarkdownCell .jp-RenderedMarkdown h3", timeout=60_000)
        info = page.evaluate("""() => {
            const md = [...document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown')];
            return {h3: md.filter(m => m.querySelector('h3')).length,
                    lists: md.filter(m => m.querySelectorAll('li').length >= 4).length,
                    pre: md.filter(m => m.querySelector('pre') && /###|\\*\\*\\(a\\)/.test(m.textContent)).length};
        }""")
        assert info["h3"] >= 6 and info["lists"] >= 6, info
        assert info["pre"] == 0, f"prompts rendered as code blocks: {info}"
    finally:
        page.close()
        _shutdown_kernels(lab)
        _wait_back_to(before)
