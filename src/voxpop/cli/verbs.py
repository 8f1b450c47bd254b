"""The verbs of ``voxpop``, each imported only when it runs: the index that ``voxpop --help`` lists
(:class:`voxpop.cli.app.LazyVerbs`).

``voxpop --help`` lists every verb with its one-line help without importing a verb module (they import
pandas, the corpus model, rich tables ...); the module of a verb is imported when that verb is invoked,
its ``--help`` included (``voxpop import --help`` imports only the import verbs). :data:`VERBS` names, in
the order of the listing, each verb's module and the first paragraph of its help, which must equal the
verb's own (its docstring, or its sub-app's ``help``): ``tests/test_cli_startup.py`` checks both ways,
so a new verb or a reworded help is added here too.
"""

from __future__ import annotations

VERBS: dict[str, tuple[str, str]] = {  # verb -> (module under voxpop.cli, first paragraph of its help)
    "validate": (
        "corpus_verbs",
        "Check a corpus and print a summary: items, raters, ratings per item, condition, slot, class.",
    ),
    "agreement": (
        "agreement_verbs",
        "Krippendorff's alpha (+ Fleiss' kappa for labels, + pairwise Pearson / CCC, + ICC) per scale, condition and"
        "\ngroup; dimensions (arousal, valence, dominance) with --slot dimension.",
    ),
    "compare": (
        "agreement_verbs",
        "Agreement matrix between label sets of one corpus built per stimulus condition (and pooled: --pooling).",
    ),
    "sweep": (
        "agreement_verbs",
        "Cohen's kappa per emotion between two Likert sources binarized at each threshold; report the best.",
    ),
    "mlcm": (
        "agreement_verbs",
        "Multi-label confusion matrix (Heydarian et al. 2022) with 'no true label' / 'no predicted label'.",
    ),
    "audit": (
        "audit_verbs",
        "Find what each fold's test partition shares with train or dev: speakers, recordings (decoded samples and"
        "\nidentical files), sentences and the training corpora of pretrained encoders.",
    ),
    "budget": (
        "budget_verbs",
        "Annotation budget: label stability, kappa, kept share, JS distance and alpha of k raters per item against"
        "\nthe full panel, for each k, with 95 % intervals; and the clips whose label is least stable.",
    ),
    "export": (
        "export_verbs",
        "Write each fold model's head as ONNX plus card.json (classes, label rule, corpus, metrics, feature spec).",
    ),
    "features": (
        "feature_verbs",
        "Extract features for every item into the resumable feature store, with progress and a summary.",
    ),
    "labels": (
        "label_verbs",
        "Turn ratings into targets with a label rule, save the label set and print what the rule discarded.",
    ),
    "merge": (
        "merge_verbs",
        "Merge corpora: namespaced item / rater / speaker ids, a class map per corpus, every change counted.",
    ),
    "evaluate": (
        "model_verbs",
        "Score a run's out-of-fold predictions against a test label set (cross-testing), with bootstrap CIs.",
    ),
    "predict": (
        "model_verbs",
        "Class distribution per audio file: the run's features and fold models, probabilities averaged over folds"
        "\n(a regressor's run: the value of each dimension, averaged over folds).",
    ),
    "fuse": (
        "model_verbs",
        "Dirichlet late fusion with per-class model weights chosen by UAR, as a recipe's analyses.fusion.",
    ),
    "run": (
        "study_verbs",
        "Run a study recipe: every stage once (cached, resumable), then results.parquet and report.html.",
    ),
    "demo": (
        "study_verbs",
        "Build the synthetic demo corpus and run the aggregation-rules study (3) on it, on CPU: report.html.",
    ),
    "train": (
        "train_verbs",
        "Cross-validate heads on features and labels through the recipe runner and print out-of-fold metrics.",
    ),
    "import": ("import_verbs", "Import a corpus from a native rating format into a corpus directory."),
    "store": (
        "store_verbs",
        "Show and free the feature store that every study, 'voxpop train' and 'voxpop features' share.",
    ),
}
