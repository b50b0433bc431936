"""Hugging Face model ids (``ORG/NAME[@REVISION]``) resolved from the local Hugging Face cache.

The cache is the one ``huggingface_hub`` defines (``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``; layout ``models--ORG--NAME/{refs,snapshots,blobs}``), read through
``huggingface_hub.snapshot_download(..., local_files_only=True)``: nothing is downloaded unless
``download=True`` is asked for. The result is a snapshot directory, which the readers take as a
Hugging Face model directory (or a PEFT adapter directory).
"""

from __future__ import annotations

import re
from pathlib import Path

#: ``ORG/NAME`` or ``ORG/NAME@REVISION`` (a branch, tag or commit hash). Hugging Face repo names
#: are letters, digits, ``-``, ``_`` and ``.``; a path that exists on disk is never an id.
HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?$")

#: What ``download=True`` fetches: weights, their indices and the configs (no optimizer state,
#: no ONNX/TF/Flax copies).
DOWNLOAD_PATTERNS = ["*.safetensors", "*.safetensors.index.json", "*.json", "*.bin",
                     "*.bin.index.json"]


def parse_hub_id(text: str) -> tuple[str, str | None] | None:
    """``(repo_id, revision or None)`` when ``text`` has the form of a model id, else None."""
    m = HUB_ID.match(text)
    if m is None or text.endswith((".safetensors", ".pt", ".pth", ".bin", ".npz", ".npy")):
        return None
    return m.group("repo"), m.group("rev")


def resolve_hub_id(spec: str, *, download: bool = False,
                   cache_dir: str | Path | None = None) -> Path:
    """The local snapshot directory of the model id ``spec`` (``ORG/NAME[@REVISION]``).

    Parameters
    ----------
    spec : str
        A model id, optionally with ``@REVISION`` (branch, tag or commit hash; default
        ``main``).
    download : bool
        Fetch the weights and configs (:data:`DOWNLOAD_PATTERNS`) when they are not in the
        cache. Off by default: setol works offline.
    cache_dir : path, optional
        The hub cache (default: huggingface_hub's, from ``HF_HUB_CACHE`` / ``HF_HOME``).

    Returns
    -------
    pathlib.Path
        ``.../models--ORG--NAME/snapshots/<commit>``.

    Raises
    ------
    MissingExtra
        huggingface_hub is not installed (``pip install 'setol[hf]'``).
    ValueError
        ``spec`` is not a model id.
    FileNotFoundError
        The model (or that revision) is not in the cache and ``download`` is False; the
        message names the cache and says how to fetch it.

    Examples
    --------
    >>> resolve_hub_id("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    PosixPath('/root/.cache/huggingface/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/c9745ed1d9f207416be6d2e6f8de32d1f16199bf')
    """
    from ..util import require

    parsed = parse_hub_id(spec)
    if parsed is None:
        raise ValueError(f"{spec!r} is not a Hugging Face model id (ORG/NAME[@REVISION])")
    repo, rev = parsed
    hub = require("huggingface_hub", f"the model id {spec} (the Hugging Face cache)")
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError, RevisionNotFoundError

    cache = Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)
    try:
        path = hub.snapshot_download(repo, revision=rev, cache_dir=cache,
                                     local_files_only=not download,
                                     allow_patterns=DOWNLOAD_PATTERNS if download else None)
    except (LocalEntryNotFoundError, RevisionNotFoundError) as exc:
        if download:
            raise FileNotFoundError(f"{spec}: could not download ({exc})") from None
        raise FileNotFoundError(
            f"{spec}: not in the Hugging Face cache {cache} (HF_HUB_CACHE or HF_HOME name "
            "another); add --download to fetch it") from None
    return Path(path)
