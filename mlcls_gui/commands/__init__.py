"""Sub-commands that live outside ``cli.py``: each module offers

    add_parser(commands: argparse._SubParsersAction) -> None
    run(args: argparse.Namespace) -> int

and ``cli.py`` registers it. User mistakes raise ``MlclsError`` subclasses,
which the CLI prints as one line with exit status 2.
"""
