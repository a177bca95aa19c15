"""On a phone every `.table` scrolls sideways inside itself (static/css/hypha.css); a scrolling region
must take the keyboard's focus, or someone without a mouse cannot read its hidden columns (WCAG 2.1.1;
axe's scrollable-region-focusable). axe only sees the tables the pages it visits happen to show, so
every template is read here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = re.compile(r"<table\b[^>]*>", re.DOTALL)


def test_every_scrolling_table_in_a_template_takes_the_keyboards_focus_and_has_a_name() -> None:
    templates = [*ROOT.glob("features/*/templates/**/*.html"), *ROOT.glob("core/templates/**/*.html")]
    assert templates
    unreachable = []
    for template in templates:
        text = template.read_text()
        for tag in TABLE.findall(text):
            if not re.search(r'class="[^"]*\btable\b', tag):
                continue  # a layout table in a mail
            named = "aria-label" in tag or "<caption" in text[text.index(tag) : text.index(tag) + len(tag) + 300]
            if 'tabindex="0"' not in tag or not named:
                unreachable.append(f"{template.relative_to(ROOT)}: {tag}")
    assert unreachable == [], "\n".join(unreachable)
