"""The training run, in a few files with one job each.

``loop.py``        Trainer: fit / train one epoch / evaluate, calling a fixed set of hooks
``hooks.py``       metrics.csv + log, checkpoints, early stopping, events, final outputs
``strategy.py``    one device, or torch.distributed processes (DDP under torchrun)
``run_state.py``   the model, optimiser, schedule and batches, built and torn down in one place
``checkpoints.py`` what a checkpoint holds, and how a resume restores it
``resume_checks.py`` what a resume takes from its plan, and the checks it must pass
``time_budget.py`` the epochs that fit N minutes, planned and re-planned
(stop / checkpoint-now requests come through ``core.training.run_control``)
"""

from mlcls_gui.core.training.engine.loop import RunResult, Trainer
from mlcls_gui.core.training.engine.reports import EvalResult
from mlcls_gui.core.training.engine.run_state import make_optimizer
from mlcls_gui.core.training.engine.strategy import Distributed, SingleDevice, Strategy, strategy_for
from mlcls_gui.core.training.run_control import RunControl, StopRequested

__all__ = [
    "Distributed", "EvalResult", "RunControl", "RunResult", "SingleDevice", "StopRequested",
    "Strategy", "Trainer", "make_optimizer", "strategy_for",
]
