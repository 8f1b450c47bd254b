"""Studies: the recipe schema, loading (YAML file or dict), the :class:`Study` built once from a recipe
(:func:`build_study`: variants, corpus source, target kind), the one pre-flight check (:func:`check_recipe`), the
one planner (:func:`plan_study`), stages and their execution (in process or on a Dask cluster),
:func:`run_recipe`, and the leakage audit every study runs first (:func:`audit_folds`, :func:`audit_study`).

The face is lazy (PEP 562): ``import voxpop.study`` imports no Dask or training stack.
"""

from voxpop.core.faces import lazy_face

_EXPORTS = {
    "Recipe": "recipe",
    "load_recipe": "loading",
    "recipe_from_dict": "loading",
    "run_recipe": "run",
    "dry_run": "run",
    "StudyRun": "run",
    "Study": "definition",
    "build_study": "definition",
    "plan_study": "plan",
    "check_recipe": "checks",
    "Audit": "leakage",
    "audit_folds": "leakage",
    "audit_study": "leakage",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
