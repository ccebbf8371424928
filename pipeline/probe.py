"""The linear probe: how much of a task a frozen representation carries (NOSS style).

```python
from pipeline import probe
r = probe.probe(train_x, train_y, test_x, test_y, seed=0)
r["accuracy"], r["C"]
```
Standardised features → L2 logistic regression (scikit-learn). C is picked from `C_GRID` on a
seeded, stratified `VAL_FRACTION` split of the training clips, then the probe is refitted on
all of them. Used by the evaluation (`pipeline.evaluate`) and by the teacher-training tool,
so their figures are comparable.
"""

import warnings

import numpy as np

from pipeline.errors import DataError

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # strongest regularisation first: ties go to it
VAL_FRACTION = 0.2
DESCRIPTION = "StandardScaler + LogisticRegression (L2, lbfgs)"


def probe(train_x, train_y, test_x, test_y, c_grid=C_GRID, val_fraction=VAL_FRACTION, seed=0):
    """Standardise → logistic regression; C chosen on a seeded split of train, refit on all of train.

    Returns {"accuracy": test accuracy, "C": chosen C, "val_accuracy": its accuracy on the split}.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, ShuffleSplit, StratifiedShuffleSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    train_x, test_x = np.asarray(train_x, np.float64), np.asarray(test_x, np.float64)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classes, counts = np.unique(train_y, return_counts=True)
    n_val = max(int(round(val_fraction * len(train_y))), len(classes))
    # one BLAS thread: on a shared, busy machine a multi-threaded BLAS spins and is 30x slower
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if len(classes) < 2:
            raise DataError("a probe needs at least two classes in the training clips")
        if len(train_y) - n_val < len(classes):  # too few clips to hold any out: no grid
            model, c, val = pipe.set_params(logisticregression__C=1.0).fit(train_x, train_y), 1.0, None
        else:
            split = (StratifiedShuffleSplit if counts.min() >= 2 else ShuffleSplit)(
                n_splits=1, test_size=n_val, random_state=seed
            )
            search = GridSearchCV(pipe, {"logisticregression__C": list(c_grid)}, cv=split, refit=True)
            search.fit(train_x, train_y)
            model, c, val = search, search.best_params_["logisticregression__C"], float(search.best_score_)
    acc = float(np.mean(model.predict(test_x) == test_y)) if len(test_y) else None
    return {"accuracy": acc, "C": float(c), "val_accuracy": val}
