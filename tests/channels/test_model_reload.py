"""Model reload pieces that need no server: garbage collection and the file watcher's timing."""
import gc
import os
import weakref

from bot.channels.model_reload import ModelWatcher, file_signature, freeze_loaded_objects


class Node:
    pass


def test_freeze_keeps_the_new_model_and_lets_the_old_one_go():
    old = Node()
    old.cycle = old  # only the cycle collector can free it
    gone = weakref.ref(old)
    gc.freeze()  # the model loaded at start
    del old  # replaced by a reload
    try:
        freeze_loaded_objects()
        assert gone() is None, "the previous model stayed in the permanent generation"
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_model_file_rewritten_in_place_is_loaded_only_once_it_stops_changing(tmp_path):
    model = tmp_path / "helpline.tar.gz"
    model.write_bytes(b"old model")
    watcher = ModelWatcher(app=None, model_path=model, interval=1)
    assert watcher.due() is None  # nothing new

    with model.open("r+b") as f:  # rasa train rewrites the archive in place: same inode
        f.write(b"new mod")
    os.utime(model, ns=(1, 1))
    assert file_signature(model)[0] == watcher.attempted[0]
    assert watcher.due() is None  # changed since the last poll: maybe still being written
    with model.open("ab") as f:
        f.write(b"el, more")
    assert watcher.due() is None  # still changing
    signature = watcher.due()  # unchanged for a whole poll: load it
    assert signature == file_signature(model)
    watcher.attempted = signature
    assert watcher.due() is None  # loaded (or tried) once, not again
