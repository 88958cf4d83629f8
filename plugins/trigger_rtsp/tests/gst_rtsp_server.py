#!/usr/bin/python3
"""A GStreamer RTSP server (gst-rtsp-server, Debian's python3-gi) for the tests and bench.

Run with the *system* Python (python3-gi is Debian's, not in the venv)::

    /usr/bin/python3 gst_rtsp_server.py --port 8554 --path /mystream \
        --video h264 --size 320x240 --fps 15 --audio l16 --freq 440 --rate 16000

Prints ``READY <port>`` on stdout once it listens, then serves until killed.
Video: ``videotestsrc`` encoded as H.264 (x264enc), H.265 (x265enc) or JPEG (RFC 2435).
Audio: an ``audiotestsrc`` sine of ``--freq`` Hz as L16 (RFC 3551), Opus or PCMU.
``--user``/``--password`` require basic or digest authentication (``--auth``).
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

VIDEO = {
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bframes=0 "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1",
    "h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
    "! rtph265pay name=pay0 pt=96 config-interval=-1",
    "jpeg": "jpegenc quality=85 ! rtpjpegpay name=pay0 pt=26",
}
AUDIO = {
    "l16": "audioconvert ! audio/x-raw,format=S16BE,rate={rate},channels={channels} "
    "! rtpL16pay name=pay{n} pt=97",
    "opus": "audioconvert ! audioresample ! opusenc ! rtpopuspay name=pay{n} pt=97",
    "pcmu": "audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! mulawenc "
    "! rtppcmupay name=pay{n} pt=0",
}


def launch(args: argparse.Namespace) -> str:
    """The media factory's pipeline description."""
    width, height = (int(x) for x in args.size.split("x"))
    parts = []
    n = 0
    if args.video != "none":
        parts.append(
            f"videotestsrc is-live=true pattern={args.pattern} "
            f"! video/x-raw,width={width},height={height},framerate={args.fps}/1 "
            f"! videoconvert ! video/x-raw,format=I420 ! "
            + VIDEO[args.video].format(gop=args.gop or args.fps)
        )
        n = 1
    if args.audio != "none":
        parts.append(
            f"audiotestsrc is-live=true wave=sine freq={args.freq} volume=0.5 "
            f"! audio/x-raw,rate={args.rate},channels={args.channels} ! "
            + AUDIO[args.audio].format(rate=args.rate, channels=args.channels, n=n)
        )
    return "( " + "  ".join(parts) + " )"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="/stream")
    parser.add_argument("--video", choices=[*VIDEO, "none"], default="h264")
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--pattern", default="smpte")
    parser.add_argument("--gop", type=int, default=0, help="frames between keyframes (--fps)")
    parser.add_argument("--audio", choices=[*AUDIO, "none"], default="none")
    parser.add_argument("--freq", type=float, default=440.0)
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--auth", choices=["basic", "digest"], default="basic")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch(args))
    factory.set_shared(True)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", args.user)
        if args.auth == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            basic = GstRtspServer.RTSPAuth.make_basic(args.user, args.password)
            auth.add_basic(basic, token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                f"{args.user}, media.factory.access=(boolean)true, "
                "media.factory.construct=(boolean)true"
            )
        )
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
