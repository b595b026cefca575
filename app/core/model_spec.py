"""What the learner typed after `lantern models pull`, understood.

Accepted: a catalog id (`qwen2.5-coder-0.5b-instruct`, optionally `:Q4_K_M`), a Hugging Face file
(`Org/Repo/file.gguf`, `Org/Repo:file.gguf`, `hf://Org/Repo/file.gguf`, or the web address of the
file), or a repository (`Org/Repo`, e.g. an MLX model or a GGUF repo to choose a file from).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from app.core.errors import LanternError
from app.core.i18n import _

_REPO = r"[A-Za-z0-9][\w.\-]*/[\w.\-]+"
_SPLIT_GGUF = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelSpec:
    catalog_id: str | None = None
    quant: str | None = None
    repo_id: str | None = None
    filename: str | None = None
    revision: str = "main"

    @property
    def is_catalog(self) -> bool:
        return self.catalog_id is not None


def parse_model_spec(text: str, *, catalog_ids: frozenset[str] | set[str], revision: str | None = None) -> ModelSpec:
    raw = text.strip()
    rev = revision or "main"
    if not raw:
        raise LanternError(_("No model was named."), hint=_("Give a catalog id (see `lantern models recommend --all`) "
                                                         "or a Hugging Face file such as Org/Repo/model.gguf."))
    head, _sep, quant = raw.partition(":")
    if head.lower() in catalog_ids and "/" not in head:
        return ModelSpec(catalog_id=head.lower(), quant=quant.upper() or None, revision=rev)

    if raw.startswith(("https://", "http://")):
        parts = [unquote(p) for p in urlsplit(raw).path.strip("/").split("/")]
        # /Org/Repo/resolve|blob/<revision>/<path...>
        if len(parts) >= 5 and parts[2] in ("resolve", "blob"):
            return _file_spec(f"{parts[0]}/{parts[1]}", "/".join(parts[4:]), revision or parts[3])
        if len(parts) == 2:
            return _repo_spec(f"{parts[0]}/{parts[1]}", rev)
        raise _not_understood(raw)
    body = raw.removeprefix("hf://")
    if re.fullmatch(_REPO, body):
        return _repo_spec(body, rev)
    m = re.fullmatch(rf"({_REPO}):(.+)", body)
    if m:
        return _file_spec(m.group(1), m.group(2), rev)
    m = re.fullmatch(rf"({_REPO})/(.+)", body)
    if m:
        return _file_spec(m.group(1), m.group(2), rev)
    if "/" not in raw:
        raise LanternError(_("There is no model '{raw}' in the catalog.").format(raw=raw),
                           hint=_("See `lantern models recommend --all` for the ids, or name a Hugging Face file "
                                  "as Org/Repo/model.gguf."))
    raise _not_understood(raw)


def _repo_spec(repo: str, revision: str) -> ModelSpec:
    return ModelSpec(repo_id=repo, revision=revision)


def _file_spec(repo: str, filename: str, revision: str) -> ModelSpec:
    parts = filename.replace("\\", "/").split("/")
    if filename.startswith(("/", "\\")) or any(p in ("", ".", "..") or ":" in p for p in parts):
        raise _not_understood(f"{repo}/{filename}")  # the name becomes a path under the models folder
    split = _SPLIT_GGUF.search(filename)
    if split and split.group(2) != "00001":  # "-00001-of-00001" is an ordinary single file
        raise LanternError(
            _("'{filename}' is one part of a model split into {parts} files.").format(
              filename=filename, parts=int(split.group(2))),
            hint=_("Split GGUF models are not supported yet; choose a single-file quantisation from the same "
                   "repository."))
    return ModelSpec(repo_id=repo, filename=filename, revision=revision)


def _not_understood(raw: str) -> LanternError:
    return LanternError(_("'{raw}' is not a model Lantern understands.").format(raw=raw),
                        hint=_("Use a catalog id, Org/Repo/file.gguf, Org/Repo:file.gguf, or the file's "
                               "huggingface.co address."))
