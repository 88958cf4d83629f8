# The original project's test handler (test/extproc/test_handler.py), as it is written there:
# header values and bodies arrive as bytes.


def handler_serve(context, event):
    phase = event.headers.get("processing-phase").decode("utf-8")
    if phase == "2":
        return event.body.decode("utf-8") + " - preprocessed"
    elif phase == "5":
        return event.body.decode("utf-8") + " - postprocessed"
    return "Hello, from Nuclio :]"
