"""emlearn C for scikit-learn trees: the generated C, compiled here with the host compiler
and run on the test rows, is compared with scikit-learn's own predictions."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def run_folder(folder, x, tmp_path, classifier=True):
    """Compile a written folder's example_main.c with the host cc and run it on rows."""
    program = tmp_path / "predict"
    subprocess.run([shutil.which("cc") or shutil.which("gcc"), "-std=c99", "-O1", "-I", str(folder),
                    str(folder / "example_main.c"), "-o", str(program), "-lm"], check=True, capture_output=True)
    out = subprocess.run([str(program)], input=np.asarray(x, np.float32).tobytes(), check=True, capture_output=True)
    return np.asarray(out.stdout.split(), dtype=np.int64 if classifier else np.float64)


def split(loader):
    from sklearn.model_selection import train_test_split

    x, y = loader(return_X_y=True)
    return train_test_split(x.astype(np.float32), y, test_size=0.25, random_state=0)


def test_forest_on_breast_cancer_agrees_with_scikit_learn_in_host_compiled_c(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from edgekit.convert.emlearn_artifacts import write_emlearn_artifacts
    from edgekit.convert.emlearn_c import check_emlearn
    from edgekit.train.metrics import get_metric

    x_train, x_test, y_train, y_test = split(load_breast_cancer)
    forest = RandomForestClassifier(n_estimators=30, min_samples_leaf=2, random_state=0).fit(x_train, y_train)
    sklearn = forest.predict(x_test)
    f1 = get_metric("f1_macro", "classification")
    result, model = check_emlearn(forest, x_test, sklearn, y_true=y_test, metric=f1, source_metric=f1.fn(y_test, sklearn))
    assert result.status == "passed", result.reason
    assert model.settings["voting"].startswith("soft")  # min_samples_leaf=2 leaves impure leaves
    write_emlearn_artifacts(model, result, tmp_path / "c")
    c = forest.classes_[run_folder(tmp_path / "c", x_test, tmp_path)]
    agreement = float(np.mean(c == sklearn))
    assert agreement >= 0.99
    assert result.parity["agreement"] == pytest.approx(agreement)
    assert result.metric["mcu"] == pytest.approx(f1.fn(y_test, c))
    print(f"\nbreast cancer RF (30 trees): C agrees with scikit-learn on {agreement:.1%} of {len(c)} rows, "
          f"f1 {result.metric['mcu']:.4f} vs {result.metric['source']:.4f}; Cortex-M4F {result.sizes['cortex_m4f']}")


def test_regression_forest_on_small_features_keeps_scikit_learns_branches(tmp_path):
    # Diabetes features are ~0.05 in size: emlearn's six printed decimals misroute about
    # half the rows; exact float32 thresholds must not.
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import RandomForestRegressor

    from edgekit.convert.emlearn_c import check_emlearn

    x_train, x_test, y_train, _ = split(load_diabetes)
    forest = RandomForestRegressor(n_estimators=10, max_depth=8, random_state=0).fit(x_train, y_train)
    sklearn = forest.predict(x_test)
    result, _ = check_emlearn(forest, x_test, sklearn, target_scale=float(np.std(y_train)))
    assert result.status == "passed"
    assert result.parity["agreement"] >= 0.99 and result.parity["max_abs_error"] < 1e-4 * np.std(y_train)


def test_cortex_m4f_sections_are_reported(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.tree import DecisionTreeClassifier

    from edgekit.convert.emlearn_c import check_emlearn
    from edgekit.convert.mcu_budget import McuBudget

    x_train, x_test, y_train, _ = split(load_breast_cancer)
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(x_train, y_train)
    result, _ = check_emlearn(tree, x_test, tree.predict(x_test))
    arm = result.sizes["cortex_m4f"]
    assert arm["text"] > 0 and result.flash_bytes == arm["text"] + arm["data"] and result.ram_bytes == arm["data"] + arm["bss"]
    over, _ = check_emlearn(tree, x_test, tree.predict(x_test), budget=McuBudget(flash_bytes=arm["text"] - 1))
    assert over.status == "failed" and f"{result.flash_bytes:,} B" in over.reason


@pytest.mark.parametrize("family, options", [("GradientBoostingClassifier", {"n_estimators": 5}),
                                             ("LogisticRegression", {"max_iter": 5000}), ("SVC", {})])
def test_families_emlearn_cannot_take_are_not_applicable(family, options):
    import sklearn.ensemble
    import sklearn.linear_model
    import sklearn.svm
    from sklearn.datasets import load_breast_cancer

    from edgekit.convert.emlearn_c import check_emlearn

    cls = next(getattr(m, family) for m in (sklearn.ensemble, sklearn.linear_model, sklearn.svm) if hasattr(m, family))
    x_train, x_test, y_train, _ = split(load_breast_cancer)
    estimator = cls(**options).fit(x_train[:100], y_train[:100])
    result, model = check_emlearn(estimator, x_test, estimator.predict(x_test))
    assert result.status == "not_applicable" and family in result.reason and model is None


def test_svm_bundle_is_not_applicable_with_the_reason(mpg_svm, tmp_path):
    from edgekit.convert.mcu import convert_mcu

    report = convert_mcu(mpg_svm.bundle, tmp_path / "mcu")
    rows = {r.target: r for r in report.results}
    assert rows["emlearn"].status == "not_applicable" and "SVR" in rows["emlearn"].reason
    assert rows["tflm"].status == "not_applicable" and report.passed
    assert sorted(p.name for p in (tmp_path / "mcu").iterdir()) == ["mcu.json", "mcu.md"]


def test_forest_bundle_goes_to_c_with_its_imputation_and_one_hot(tmp_path):
    from edgekit.convert.mcu import convert_mcu
    from edgekit.train import TrainConfig, load_bundle, train

    space = tmp_path / "space.json"
    space.write_text(json.dumps({"rf": {"model__n_estimators": [12], "model__max_depth": [7]}}))
    config = TrainConfig(target="mpg", models=("rf",), quick=True, cv=2, search_space=str(space))
    path = train("auto-mpg", config, n_jobs=1, show_progress=False).save(tmp_path / "bundle")
    report = convert_mcu(path, tmp_path / "mcu")
    row = next(r for r in report.results if r.target == "emlearn")
    assert row.status == "passed", row.reason
    bundle = load_bundle(path)
    schema = bundle.card.schema
    assert schema["origin"].kind == "categorical"  # one-hot in C
    test = bundle.split("test")
    x = test[schema.names].to_numpy(dtype=np.float32)
    x[::7, schema.index("horsepower")] = np.nan  # imputed in C as in the pipeline
    x[::5, schema.index("origin")] = np.nan
    frame = test.copy()
    frame[schema.names] = x
    sklearn = bundle.source_model().predict_frame(frame)
    c = run_folder(tmp_path / "mcu" / row.name, x, tmp_path, classifier=False)
    scale = float(bundle.split("train")["mpg"].std())
    assert np.abs(c - sklearn).max() <= 1e-4 * scale
    assert "impute and one-hot encode 1 categorical column(s)" in row.sizes["settings"]["preprocessing"]


def test_importing_emlearn_leaves_numpys_error_handling_alone():
    code = ("import numpy as np; before = np.geterr(); from edgekit.convert.emlearn_c import import_emlearn; "
            "import_emlearn(); import emlearn.bayes; assert np.geterr() == before, np.geterr(); print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
