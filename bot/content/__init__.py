"""Tools for the content: checks, validation, conversation tests, the NLU report, the unanswered
questions report, the evaluation. They may import the runtime; the runtime never imports them."""
