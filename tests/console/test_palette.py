"""One palette for the crisis tiers: the staff console shows each tier in the colour the
visitor's emergency bar has (bot/web/static/widget/widget.css)."""
import re

from bot import PROJECT_ROOT

STATIC = PROJECT_ROOT / "bot" / "web" / "static"


def widget_tiers():
    css = (STATIC / "widget" / "widget.css").read_text()
    colours = {"emergency": re.search(r"\.hw-emergency \{[^}]*--hw-tier: (#[0-9a-f]{6})", css).group(1)}
    for tier in ("suicide", "medical", "check"):
        colours[tier] = re.search(r'\.hw-emergency\[data-tier="%s"\] \{[^}]*--hw-tier: (#[0-9a-f]{6})' % tier,
                                  css).group(1)
    return colours


def test_the_console_badges_use_the_widgets_tier_colours():
    css = (STATIC / "console" / "console.css").read_text()
    badges = {tier: re.search(r"\.badge--%s \{[^}]*background: (#[0-9a-f]{6})" % tier, css).group(1)
              for tier in ("emergency", "suicide", "medical", "check")}
    assert badges == widget_tiers()


def test_the_console_queue_marks_a_tier_in_its_own_colour():
    css = (STATIC / "console" / "console.css").read_text()
    colours = widget_tiers()
    assert re.search(r"\.queue-item--suicide \.queue-item__open \{[^}]*border-color: (#[0-9a-f]{6})",
                     css).group(1) == colours["suicide"]
    assert re.search(r"\.queue-item--medical \.queue-item__open \{[^}]*border-left-color: (#[0-9a-f]{6})",
                     css).group(1) == colours["medical"]
