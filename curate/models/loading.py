"""One wording for "this model could not be loaded", shared by train, merge and eval."""

from __future__ import annotations

from pathlib import Path

from curate.errors import InputError


def model_load_error(source: str, what: str, exc: BaseException) -> InputError:
    """A one-line error for a model/tokenizer/adapter that failed to load from ``source``.

    A path that does not exist is named as such: transformers would otherwise answer with a
    confusing message about repository ids.
    """
    if not Path(source).expanduser().exists():
        return InputError(
            f"{source}: no such folder (a Hugging Face id must already be in the local cache: "
            "nothing is downloaded here)"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(f"{source}: cannot load {what}: {first}")
