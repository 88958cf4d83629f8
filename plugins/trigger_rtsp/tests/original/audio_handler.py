"""The rtsp_audio-webhook test's handler without Whisper: the tone's frequency instead of
a transcription, found with numpy from the same PCM the original hands to Whisper."""

import json

import numpy as np


def handler(context, event):
    context.logger.info_with("Invoked rtsp handler")
    pcm_bytes = event.body
    audio = np.frombuffer(pcm_bytes, dtype=np.int16).astype(np.float32) / 32768.0
    rate = event.get_field("sample_rate")
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    frequency = float(np.fft.rfftfreq(len(audio), 1.0 / rate)[int(np.argmax(spectrum))])
    payload = {
        "transcription": f"a tone of {frequency:.1f} Hz",
        "size": len(pcm_bytes),
        "frequency": frequency,
        "sample_rate": rate,
    }
    return context.Response(
        body=json.dumps(payload), status_code=200, content_type="application/json"
    )
