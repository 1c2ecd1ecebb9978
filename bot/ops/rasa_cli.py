"""Rasa's command line (``python -m bot.ops.rasa_cli run ...`` is ``rasa run ...``), with skops
imported before Rasa imports TensorFlow.

The linear classifiers' models are skops files (bot/nlu/linear.py). On import, skops looks
up the module of each numpy ufunc by walking every module in ``sys.modules``; after Rasa has
imported TensorFlow there are thousands, and that import took 17-19 s of a 31-33 s server
cold start on a 2-core machine (19 s with this module); training from clean took 67 s
against 58 s. Start servers, training and tests through this module; plain ``rasa`` works
the same, only slower to start.

For the commands that serve or test a model it also installs the faster steps of
bot/rasa_patches/, so the conversation tests run the code the servers run; for `test`, the
crisis screen's slot-filling entities are left out of the entity comparison (bot/nlu/crisis.py).
"""
import sys

COMMAND = [sys.executable, "-m", "bot.ops.rasa_cli"]  # then Rasa's arguments, e.g. "run", "--model", ...
SERVING_COMMANDS = ("run", "test", "shell")  # these get bot/rasa_patches/


def main() -> None:
    import skops.io  # noqa: F401 -- first, while sys.modules is small (see above)
    from rasa.__main__ import main as rasa_main

    if len(sys.argv) > 1 and sys.argv[1] in SERVING_COMMANDS:
        from bot import rasa_patches

        rasa_patches.install()
    if len(sys.argv) > 1 and sys.argv[1] == "test":
        from bot.nlu.crisis import hide_slot_entities_from_tests

        hide_slot_entities_from_tests()
    rasa_main()


if __name__ == "__main__":
    main()
