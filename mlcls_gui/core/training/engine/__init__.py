"""The training run, in a few files with one job each.

``loop.py``        Trainer: fit / train one epoch / evaluate, calling a fixed set of hooks
``hooks.py``       metrics.csv + log, checkpoints, early stopping, events, final outputs
``strategy.py``    one device, or torch.distributed processes (DDP under torchrun)
``run_state.py``   the model, optimiser, schedule and batches, built and torn down in one place
``checkpoints.py`` what a checkpoint holds, and how a resume restores it
``control.py``     stop / checkpoint-now requests from other threads
"""

from mlcls_gui.core.training.engine.control import RunControl, StopRequested
from mlcls_gui.core.training.engine.loop import RunResult, Trainer
from mlcls_gui.core.training.engine.reports import EvalResult
from mlcls_gui.core.training.engine.run_state import make_optimizer
from mlcls_gui.core.training.engine.strategy import Distributed, SingleDevice, Strategy, strategy_for

__all__ = [
    "Distributed", "EvalResult", "RunControl", "RunResult", "SingleDevice", "StopRequested",
    "Strategy", "Trainer", "make_optimizer", "strategy_for",
]
