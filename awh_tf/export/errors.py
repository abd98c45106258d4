"""The error every export step raises for bad input or a failed self-check."""


class ExportError(ValueError):
    """An export that cannot run or whose artefacts fail their check; the message is one line saying
    what and where (the file, argument or artefact)."""
