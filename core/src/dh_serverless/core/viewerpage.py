"""The one viewer page of the sinks that serve a live picture to a browser (mjpeg, webrtc).

Every such page looks the same: the picture on a dark stage, a line of numbers over its
top left corner (frame rate, latency or age, ...), and a script that fills them. A sink
gives the picture element, the line and the script; the page around them is this one.
"""

from __future__ import annotations

import html

__all__ = ("viewer_page",)

_STYLE = """\
  body { margin: 0; background: #111; color: #eee; font: 14px system-ui, sans-serif; }
  #stage { position: relative; display: inline-block; }
  #video { display: block; max-width: 100vw; max-height: 100vh; background: #000; }
  #info { position: absolute; left: 8px; top: 8px; padding: 4px 8px; border-radius: 4px;
          background: rgba(0, 0, 0, .6); font-variant-numeric: tabular-nums; }
"""


def viewer_page(title: str, *, picture: str, info: str, script: str) -> bytes:
    """The HTML page (UTF-8) of one live stream, nothing fetched from elsewhere.

    :param title: the page's title, plain text (escaped here).
    :param picture: the HTML of the picture element; it must have ``id="video"`` (the
        page's style sizes that element to the window).
    :param info: the HTML of the numbers shown over the picture (``<span id=...>`` to fill).
    :param script: the JavaScript that plays the stream and fills the numbers.
    """
    return (
        "<!doctype html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{_STYLE}</style>\n"
        "</head>\n"
        "<body>\n"
        '<div id="stage">\n'
        f"  {picture}\n"
        f'  <div id="info">{info}</div>\n'
        "</div>\n"
        f"<script>\n{script.strip()}\n</script>\n"
        "</body>\n"
        "</html>\n"
    ).encode()
