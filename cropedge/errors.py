"""The one error type for problems a user can fix (bad paths, files, arguments).

The CLI turns it into one line on stderr and exit status 2; anything else is a bug
and keeps its traceback.
"""


class CropEdgeError(Exception):
    """A user-fixable problem; the message says what is wrong and what to do."""
