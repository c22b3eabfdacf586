"""The sub-commands, one module each (``config_options`` and ``outputs`` are their
shared option helpers). Each command module offers

    add_parser(commands: argparse._SubParsersAction) -> None
        adds its sub-parser and calls ``parser.set_defaults(run_command=run)``
    run(args: argparse.Namespace) -> int

and ``cli.py`` lists it in ``_COMMAND_MODULES``. A command is a thin client: it
checks its options, calls the core (``core/ops`` where the window does the same
job) and prints. Heavy imports (torch) belong inside ``run``, so ``mlcls-gui
--help`` stays fast. User mistakes raise ``MlclsError`` subclasses, which the
CLI prints as one line with exit status 2.
"""
