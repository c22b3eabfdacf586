"""Names of the files a run writes into its output folder, and of the data root's
reserved folders: excluded/, unlabelled/ and _no_label/ (no imports: config uses them)."""

LAST_CHECKPOINT_NAME = "last_checkpoint.pt"
MANUAL_CHECKPOINT_NAME = "manual_checkpoint.pt"
METRICS_NAME = "metrics.csv"
SUMMARY_NAME = "summary.json"
CONFIG_NAME = "config.json"
EVALUATION_NAME = "evaluation.json"
RUN_RECORD_NAME = "run.json"
ARCHIVE_FOLDER = "previous_runs"
LOCK_NAME = ".mlcls-run.lock"
# A data root's folder of images moved aside (outliers): never a label, never a split.
EXCLUDED_FOLDER = "excluded"
# A data root's folder of images nobody has labelled yet: scans list them, training leaves
# them out, the labelling queue suggests their labels and Apply moves them into label folders.
UNLABELLED_FOLDER = "unlabelled"
# The label folder of images that carry none of the labels (a negative example for every
# label); batch predict copies such images into it too.
NO_LABEL_FOLDER = "_no_label"
# Names a run writes besides the three the config names; those may not take them.
FIXED_OUTPUT_NAMES = (
    LAST_CHECKPOINT_NAME, MANUAL_CHECKPOINT_NAME, METRICS_NAME, SUMMARY_NAME, CONFIG_NAME,
    EVALUATION_NAME, RUN_RECORD_NAME, ARCHIVE_FOLDER, LOCK_NAME,
)
