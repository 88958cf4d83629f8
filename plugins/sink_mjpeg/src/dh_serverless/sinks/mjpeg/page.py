"""The viewer page served at ``GET /``: the live stream with its frame rate and frame age."""

from __future__ import annotations

import html

from dh_serverless.core.api import viewer_page as _page

__all__ = ("viewer_page",)

_INFO = (
    '<span id="fps">-</span> fps &middot; age <span id="age">-</span> ms\n'
    '    &middot; frame <span id="frame">-</span> &middot; <span id="viewers">-</span> viewer(s)'
)
_SCRIPT = """
async function poll() {
  try {
    const r = await fetch("stats", {cache: "no-store"});
    const s = await r.json();
    document.getElementById("fps").textContent = s.fps.toFixed(1);
    document.getElementById("age").textContent =
      s.age_ms === null ? "-" : s.age_ms.toFixed(0);
    document.getElementById("frame").textContent = s.frame_num ?? "-";
    document.getElementById("viewers").textContent = s.viewers;
  } catch (e) { /* the stream may be restarting */ }
}
poll();
setInterval(poll, 500);
"""


def viewer_page(title: str, stream_path: str) -> bytes:
    """The HTML page showing ``stream_path`` live, titled ``title``."""
    stream = html.escape(stream_path.lstrip("/"), quote=True)
    picture = f'<img id="video" src="{stream}?lowlatency=1" alt="live stream">'
    return _page(title, picture=picture, info=_INFO, script=_SCRIPT)
