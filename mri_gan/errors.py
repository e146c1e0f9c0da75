"""The one exception type for user mistakes: the CLI prints it on one line and exits 2."""


class UserError(Exception):
    """Bad input or arguments. ``str(err)`` is ``"<file or argument>: <problem>"``."""

    def __init__(self, where, problem: str):
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{self.where}: {problem}" if self.where else problem)
