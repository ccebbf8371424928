"""The linear probe: how much of a task a frozen representation carries (NOSS style).

```python
from pipeline import probe
r = probe.probe(train_x, train_y, test_x, test_y, seed=0)
r["accuracy"], r["C"], r["val_accuracy"]
```
Standardised features → L2 logistic regression (scikit-learn). C is picked from `C_GRID` by a
seeded, stratified `FOLDS`-fold cross-validation on the training clips (the C with the lowest
mean log-loss over the held-out folds), then the probe is refitted on all of them. Used by the
evaluation (`pipeline.evaluate`), the learning curves and the teacher-training tool, so their
figures are comparable.

Why k folds and log-loss: C picked on one 20 % split (144 clips of a 720-clip task) moved a probe's
test accuracy by up to 12 points between split seeds, and once by 4 points when the features were
perturbed by 1e-6. Averaged over five folds the choice moves half as much; log-loss, unlike
accuracy, does not tie or jump on one clip (docs/evaluation.md has the measurement).
"""

import warnings

import numpy as np

from pipeline.errors import DataError

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # strongest regularisation first: ties go to it
FOLDS = 5
SCORING = "neg_log_loss"
DESCRIPTION = "StandardScaler + LogisticRegression (L2, lbfgs)"
SELECTION = f"C with the lowest mean log-loss over {FOLDS} seeded stratified folds of train"


def probe(train_x, train_y, test_x, test_y, c_grid=C_GRID, folds=FOLDS, seed=0):
    """Standardise → logistic regression; C chosen by stratified k-fold cross-validation, refit on all of train.

    When a class has fewer training clips than `folds`, the folds are as many as its clips; when a
    class has a single clip there is no cross-validation and C is 1.

    Args:
        train_x: training features [clips, dim].
        train_y: their labels [clips].
        test_x: test features [clips, dim].
        test_y: their labels [clips] (may be empty: accuracy None).
        c_grid: the inverse regularisation strengths to choose from.
        folds: folds of the cross-validation (at most; fewer when a class has fewer clips).
        seed: the folds' shuffle.

    Returns:
        {"accuracy": test accuracy, "C": the chosen C, "val_accuracy": its mean accuracy over the
        held-out folds (None without cross-validation), "folds": the folds used (0: none)}.

    Raises:
        DataError: with fewer than two classes in the training clips.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    train_x, test_x = np.asarray(train_x, np.float64), np.asarray(test_x, np.float64)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classes, counts = np.unique(train_y, return_counts=True)
    if len(classes) < 2:
        raise DataError("a probe needs at least two classes in the training clips")
    k = int(min(folds, counts.min()))
    # one BLAS thread: on a shared, busy machine a multi-threaded BLAS spins and is 30x slower
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if k < 2:  # a class with one clip: nothing to hold out
            model, c, val = pipe.set_params(logisticregression__C=1.0).fit(train_x, train_y), 1.0, None
        else:
            search = GridSearchCV(
                pipe,
                {"logisticregression__C": list(c_grid)},
                cv=StratifiedKFold(k, shuffle=True, random_state=seed),
                scoring={"loss": SCORING, "accuracy": "accuracy"},
                refit="loss",
            )
            search.fit(train_x, train_y)
            model, c = search, search.best_params_["logisticregression__C"]
            val = float(search.cv_results_["mean_test_accuracy"][search.best_index_])
    acc = float(np.mean(model.predict(test_x) == test_y)) if len(test_y) else None
    return {"accuracy": acc, "C": float(c), "val_accuracy": val, "folds": k if k >= 2 else 0}
