"""Sub-commands that live outside ``cli.py``: each module offers

    add_parser(commands: argparse._SubParsersAction) -> None
        adds its sub-parser and calls ``parser.set_defaults(run_command=run)``
    run(args: argparse.Namespace) -> int

and ``cli.py`` lists it in ``_COMMAND_MODULES``. Heavy imports (torch, Qt)
belong inside ``run``, so ``mlcls-gui --help`` stays fast. User mistakes raise
``MlclsError`` subclasses, which the CLI prints as one line with exit status 2.
"""
