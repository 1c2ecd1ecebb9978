"""Phone numbers and e-mail addresses are masked in log lines; ordinary numbers are not."""
from __future__ import annotations

import io
import logging

import pytest

from bot.privacy import logmask
from bot.privacy.logmask import EMAIL, PHONE, MaskingFilter, masked


@pytest.mark.parametrize("text", [
    "(412) 555-0134", "412-555-0134", "412.555.0134", "412 555 0134", "4125550134", "1-800-555-0100",
    "+1 412 555 0134", "+1 (412) 555-0134", "1 (412) 555-0134", "555-0134",
    "+44 20 7946 0958", "+44 7700 900123", "+447700900123", "+44 (0)20 7946 0958", "0044 7700 900123",
    "+33 1 23 45 67 89", "+49 30 901820",
])
def test_phone_numbers_are_masked(text):
    line = f"Received user message 'call me on {text} after 5pm please'"
    assert masked(line) == f"Received user message 'call me on {PHONE} after 5pm please'"


@pytest.mark.parametrize("text", [
    "jo@example.org", "Jo.Doe+helpline@mail.example.co.uk", "a_b-c@sub-domain.example.io", "J%O@EXAMPLE.COM",
])
def test_email_addresses_are_masked(text):
    assert masked(f"my email is {text}, thanks") == f"my email is {EMAIL}, thanks"


@pytest.mark.parametrize("text", [
    "i take 2 mg twice a day", "it lasts 24 hours", "30 to 40 hours", "1-2 weeks", "0.5 mg",
    "2020-09-23 04:06:12,345 [INFO] started", "23 Sept 2020", "mon-fri 09:00-17:00", "Rasa 3.6.21",
    "127.0.0.1:5005", "pid 12345", "$1,500 a month", "10 000 steps", "call 911 or text 988",
    "timestamp 1733025972.1234567", "conversation 9f3a1234567890ab9f3a1234567890ab",
    "id 123e4567-e89b-12d3-a456-426614174000", "took 7 pills at 3am", "ages 18-25",
    "user @handle wrote", "a@b",
])
def test_ordinary_numbers_and_text_are_kept(text):
    assert masked(text) == text


def test_json_log_lines_are_masked_inside_strings():
    line = '{"event": "processor.message.parse", "parse_data_text": "text 412-555-0134 or jo@example.org"}'
    assert masked(line) == '{"event": "processor.message.parse", "parse_data_text": "text [phone] or [email]"}'


def _logger_with_stream(name: str):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, handler, stream


def test_the_filter_masks_arguments_tracebacks_and_request_lines():
    logger, handler, stream = _logger_with_stream("helpline.test.logmask")
    assert logmask.install([logger]) == 1
    assert logmask.install([logger]) == 0  # idempotent
    logger.debug("Received user message '%s' from %s", "my number is 412 555 0134", "jo@example.org")
    try:
        raise ValueError("could not store +44 7700 900123")
    except ValueError:
        logger.exception("failed for %s", "jo@example.org")
    record = logging.LogRecord("sanic.access", logging.INFO, __file__, 1, "", None, None)
    record.request = "GET http://host/conversations/jo@example.org/tracker"
    handler.handle(record)
    output = stream.getvalue()
    assert "412 555 0134" not in output and "jo@example.org" not in output and "7700 900123" not in output
    assert f"Received user message 'my number is {PHONE}' from {EMAIL}" in output
    assert f"failed for {EMAIL}" in output
    assert "ValueError: could not store [phone]" in output  # the traceback is kept, masked
    assert record.request == f"GET http://host/conversations/{EMAIL}/tracker"


def test_install_reaches_the_root_handlers(monkeypatch):
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(root, "handlers", [handler])
    logmask.install()
    assert any(isinstance(f, MaskingFilter) for f in handler.filters)


def test_a_broken_format_string_does_not_break_logging():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call %s %s", ("412-555-0134",), None)
    assert MaskingFilter().filter(record)
    assert "412-555-0134" not in record.getMessage()
