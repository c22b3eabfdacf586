"""The run summary in the window names a leaking split in red, and only then."""

from mlcls_gui.gui.train.run_summary import summary_html


def test_the_summary_names_near_copies_across_the_split():
    leaking = {"reason": "completed", "near_copies_across_splits": {
        "test_images_with_copy_in_train": 12, "val_images_with_copy_in_train": 3}}
    assert "Leaking split:</b> 12 test and 3 validation image(s)" in summary_html(leaking, "", "")
    clean = {"reason": "completed", "near_copies_across_splits": {
        "test_images_with_copy_in_train": 0, "val_images_with_copy_in_train": 0}}
    assert "Leaking" not in summary_html(clean, "", "") and "Leaking" not in summary_html({}, "", "")
