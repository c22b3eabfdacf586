"""Events survive the trip through JSON lines unchanged (the window's view of a multi-process run)."""

from conftest import tiny_config

from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.event_stream import EventReader, EventWriter, event_from_json, event_to_json


def test_every_event_of_a_run_round_trips(tiny_root, tmp_path):
    seen = []
    Trainer(tiny_config(tiny_root, tmp_path / "out", n_epochs=1), on_event=seen.append).run()
    assert len({type(e).__name__ for e in seen}) >= 6
    for event in seen:
        again = event_from_json(event_to_json(event))
        assert type(again) is type(event)
        assert event_to_json(again) == event_to_json(event)


def test_the_reader_follows_a_growing_file_and_waits_for_whole_lines(tiny_root, tmp_path):
    seen = []
    Trainer(tiny_config(tiny_root, tmp_path / "out", n_epochs=1), on_event=seen.append).run()
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    reader = EventReader(path)
    writer(seen[0])
    assert [type(e) for e in reader.read_new()] == [type(seen[0])]
    line = event_to_json(seen[1])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line[:20])  # a line cut in the middle of a write
    assert list(reader.read_new()) == []
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line[20:] + "\n")
    assert [type(e) for e in reader.read_new()] == [type(seen[1])]
    assert reader.main_pid is not None
    writer.close()


def test_log_records_travel_in_the_stream_with_their_level_and_name(tmp_path):
    import logging

    from mlcls_gui.core.training.event_stream import LogLine

    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    source = logging.getLogger("mlcls_gui.test_stream")
    handler = writer.log_handler(logging.INFO)
    source.addHandler(handler)
    try:
        source.debug("below the handler's level")
        source.warning("MainProcess %s", "is only text here")  # not mistaken for the process line
        try:
            raise ValueError("boom")
        except ValueError:
            source.exception("failed")
    finally:
        source.removeHandler(handler)
        writer.close()
    reader = EventReader(path)
    lines = list(reader.read_new())
    assert reader.main_pid is not None
    assert lines[0] == LogLine(logging.WARNING, "mlcls_gui.test_stream", "MainProcess is only text here")
    assert lines[1].level == logging.ERROR and "ValueError: boom" in lines[1].message
    assert len(lines) == 2
