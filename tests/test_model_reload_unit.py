"""The loaded model is frozen out of the garbage collector's full collections."""
import gc

from bot.channels.model_reload import freeze_loaded_objects


def test_freeze_moves_the_loaded_objects_to_the_permanent_generation():
    kept = [object() for _ in range(1000)]  # stands in for a loaded model
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        freeze_loaded_objects()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
