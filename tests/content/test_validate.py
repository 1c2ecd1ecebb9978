from bot.content.validate import responses_sent_by_actions


def test_only_response_arguments_count_as_sent(tmp_path):
    (tmp_path / "a.py").write_text(
        "# utter_in_a_comment is not sent\n"
        "dispatcher.utter_message(response='utter_one' if ok else 'utter_two', extra='utter_not_a_response')\n"
        "dispatcher.utter_message(text='utter_text_is_not_a_response')\n"
    )
    assert responses_sent_by_actions(tmp_path) == {"utter_one", "utter_two"}


def test_the_project_actions_send_the_handoff_responses():
    sent = responses_sent_by_actions()
    assert {"utter_handoff_connecting", "utter_handoff_offline", "utter_suggest_topics"} <= sent
