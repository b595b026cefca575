"""Import a GGUF the learner picked for one job — answering questions, or searching courses — and refuse
the other kind, so a setup that asked for a tutor never ends up "chatting" with a text encoder.

The kind is judged by the same rule the course features use (`is_embedding_model`: the catalog entry,
else the GGUF architecture), after `import_gguf` has validated and hashed the file. A file of the
wrong kind is unregistered again; imported in place, the learner's own file is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from app.core.catalog import Catalog
from app.core.errors import LanternError
from app.core.i18n import _
from app.core.installed import InstalledModel
from app.services.knowledge.models import is_embedding_model
from app.services.models.files import Progress
from app.services.models.library import import_gguf, remove_installed
from app.services.storage.models_registry import ModelRegistry

Role = Literal["chat", "embedding"]


def import_model_for(path: Path, *, role: Role, registry: ModelRegistry, catalog: Catalog, models_dir: Path,
                     copy: bool = False, on_progress: Progress | None = None) -> InstalledModel:
    model = import_gguf(path, registry=registry, catalog=catalog, models_dir=models_dir, copy=copy,
                        on_progress=on_progress)
    if is_embedding_model(model, catalog) == (role == "embedding"):
        return model
    remove_installed(model, registry=registry, models_dir=models_dir)
    if role == "chat":
        raise LanternError(_("'{name}' is an embedding model: it can search courses but cannot answer "
                             "questions.").format(name=path.name),
                           hint=_("Choose a chat (instruct) model file, or download one from the list."))
    raise LanternError(_("'{name}' is a chat model, not an embedding model, so it cannot index courses.").format(
                         name=path.name),
                       hint=_("Choose an embedding model file (for example all-MiniLM-L6-v2), or download one."))
