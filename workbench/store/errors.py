"""The store's errors. Each message names the file or folder at fault and what to do about it."""


class StoreError(Exception):
    """The run store cannot do what was asked: a folder it cannot write, a corrupt catalogue, ..."""


class MetadataError(StoreError, ValueError):
    """A PNG carries no generation metadata we can read, or carries it in a broken form."""
