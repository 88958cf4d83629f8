"""The viewer page served at ``GET /``: the live stream with its frame rate and frame age."""

from __future__ import annotations

import html

__all__ = ("viewer_page",)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ margin: 0; background: #111; color: #eee; font: 14px system-ui, sans-serif; }}
  #stage {{ position: relative; display: inline-block; }}
  #video {{ display: block; max-width: 100vw; max-height: 100vh; }}
  #info {{ position: absolute; left: 8px; top: 8px; padding: 4px 8px; border-radius: 4px;
          background: rgba(0, 0, 0, .6); font-variant-numeric: tabular-nums; }}
</style>
</head>
<body>
<div id="stage">
  <img id="video" src="{stream}?lowlatency=1" alt="live stream">
  <div id="info"><span id="fps">-</span> fps &middot; age <span id="age">-</span> ms
    &middot; frame <span id="frame">-</span> &middot; <span id="viewers">-</span> viewer(s)</div>
</div>
<script>
async function poll() {{
  try {{
    const r = await fetch("stats", {{cache: "no-store"}});
    const s = await r.json();
    document.getElementById("fps").textContent = s.fps.toFixed(1);
    document.getElementById("age").textContent =
      s.age_ms === null ? "-" : s.age_ms.toFixed(0);
    document.getElementById("frame").textContent = s.frame_num ?? "-";
    document.getElementById("viewers").textContent = s.viewers;
  }} catch (e) {{ /* the stream may be restarting */ }}
}}
poll();
setInterval(poll, 500);
</script>
</body>
</html>
"""


def viewer_page(title: str, stream_path: str) -> bytes:
    """The HTML page showing ``stream_path`` live, titled ``title``."""
    return _PAGE.format(
        title=html.escape(title), stream=html.escape(stream_path.lstrip("/"), quote=True)
    ).encode()
