"""ecg.metrics against scikit-learn and hand-computed cases, on CinC 2017, PTB-XL and LUDB labels."""
import ast
import doctest
import warnings

import numpy as np
import pandas as pd
import pytest
import wfdb
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_bipartite_matching
from sklearn import metrics as skm

from ecg import metrics
from ecg.errors import ConfigError
from ecg.metrics import (accuracy_score, aami_report, challenge_f1, classification_report, confusion_matrix,
                         delineation_report, delineation_scores, f1_score, keras_metric, match_positions,
                         multilabel_auroc, multilabel_f1_score, multilabel_fmax, multilabel_precision_score,
                         multilabel_recall_score, precision_score, recall_score, to_indices)
from ecg.ops.masks import annotations_to_mask, wave_intervals

CINC_CLASSES = ("N", "A", "O", "~")
ZERO_DIVISIONS = (0.0, 1.0, np.nan)
SINGLE_LABEL = ((f1_score, skm.f1_score), (precision_score, skm.precision_score), (recall_score, skm.recall_score))
MULTILABEL = ((multilabel_f1_score, skm.f1_score), (multilabel_precision_score, skm.precision_score),
              (multilabel_recall_score, skm.recall_score))


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


def random_case(seed, n, k):
    """Random true indices, and probabilities whose argmax is the predicted index."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(k), size=n)
    return rng.integers(0, k, n), probs, probs.argmax(axis=1)


def labels_from_confusion(cm, seed=0):
    """True and predicted indices (shuffled) with confusion matrix ``cm``."""
    true, pred = np.indices(np.shape(cm)).reshape(2, -1)
    counts = np.ravel(cm)
    order = np.random.default_rng(seed).permutation(counts.sum())
    return np.repeat(true, counts)[order], np.repeat(pred, counts)[order]


@pytest.fixture(scope="module")
def cinc_labels(cinc_dir):
    reference = pd.read_csv(cinc_dir / "REFERENCE.csv", header=None, names=["record", "label"])
    return np.array([CINC_CLASSES.index(label) for label in reference["label"]])


@pytest.fixture(scope="module")
def ptbxl_multi_hot(fixture_dir):
    """Multi-hot SCP statements of the PTB-XL fixture records, (n_records, n_statements)."""
    codes = pd.read_csv(fixture_dir / "ptbxl" / "ptbxl_database.csv")["scp_codes"].map(ast.literal_eval)
    statements = sorted({code for record in codes for code in record})
    return np.array([[code in record for code in statements] for record in codes], dtype=np.int64)


@pytest.fixture(scope="module")
def ludb_mask(fixture_dir):
    """Wave mask of LUDB record 1, lead I (500 Hz, 5000 samples), and its waves."""
    annotation = wfdb.rdann(str(fixture_dir / "ludb" / "1"), "i")
    onsets, _, offsets, labels = wave_intervals(annotation.sample, annotation.symbol)
    return annotations_to_mask(annotation.sample, annotation.symbol, 5000), onsets, offsets, labels


# --- how labels are read ---------------------------------------------------------------------------

def test_probability_and_one_hot_rows_are_argmaxed():
    assert to_indices([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]).tolist() == [1, 0]
    assert to_indices(np.eye(3, dtype=np.float32)[[2, 0, 1]]).tolist() == [2, 0, 1]
    per_sample = np.eye(3)[[[0, 1], [2, 2]]]                          # (2 records, 2 steps, 3 classes)
    assert to_indices(per_sample).tolist() == [0, 1, 2, 2]


def test_float16_softmax_rows_pass():
    logits = np.random.default_rng(0).normal(size=(200, 7))
    softmax = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float16)
    assert np.abs(softmax.astype(np.float64).sum(axis=1) - 1).max() > 0    # not exactly normalised
    assert to_indices(softmax).tolist() == logits.argmax(axis=1).tolist()


def test_integral_float_indices_are_indices():
    assert to_indices([0., 2., 1.]).tolist() == [0, 2, 1]
    assert to_indices(np.array([[0, 3], [1, 1]], dtype=np.int8)).tolist() == [0, 3, 1, 1]


@pytest.mark.parametrize("y, message", [
    ([[0., 2., 1.]], "cast class indices to int"),                 # float indices in 2-D, once argmaxed to 1
    ([[2.3, -0.4, 1.1]], "apply a softmax to logits"),
    ([[0.9, 0.8], [0.1, 0.3]], "summing to 1"),                      # sigmoid outputs
    ([[0., 0., 0.]], "summing to 1"),
    ([[1., 0., 1.], [0., 1., 0.]], "multi-hot row 0 with 2 positive classes; use the multilabel_"),
    ([0.3, 0.7], "whole-number class indices"),
    ([0., np.nan], "whole-number class indices"),
    ([[np.nan, 1.]], "finite"),
    ([0, -1], ">= 0"),
    (["N", "A"], "dtype <U1"),
])
def test_ambiguous_labels_are_errors(y, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        to_indices(y)


def test_num_classes_bounds_indices_and_rows():
    with pytest.raises(ValueError, match="below num_classes=3. Received: 3"):
        to_indices([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="rows of num_classes=4 values. Received: rows of 3"):
        to_indices(np.eye(3), num_classes=4)


def test_multi_hot_target_is_refused_by_single_label_metrics(ptbxl_multi_hot):
    y_score = np.random.default_rng(0).random(ptbxl_multi_hot.shape)
    assert (ptbxl_multi_hot.sum(axis=1) > 1).any()
    with pytest.raises(ValueError, match="use the multilabel_"):
        f1_score(ptbxl_multi_hot.astype(np.float32), y_score)
    with pytest.raises(ValueError, match="integer arrays are read as class indices"):
        f1_score(ptbxl_multi_hot, y_score / y_score.sum(axis=1, keepdims=True))


def test_mismatched_and_empty_inputs_are_errors():
    with pytest.raises(ValueError, match="as many labels in y_true as in y_pred. Received: 2 and 3"):
        f1_score([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="at least one label"):
        accuracy_score([], [])
    with pytest.raises(ConfigError, match="average=.samples."):
        f1_score([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="distinct class indices"):
        f1_score([0, 1], [0, 1], labels=[1, 1])
    with pytest.raises(ValueError, match="labels below num_classes=2"):
        f1_score([0, 1], [0, 1], num_classes=2, labels=[0, 2])


# --- single-label metrics against scikit-learn -----------------------------------------------------

@pytest.mark.parametrize("seed, n, k", [(0, 1, 2), (1, 7, 5), (2, 60, 3), (3, 500, 4), (4, 3000, 9)])
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_single_label_scores_match_sklearn(seed, n, k, zero_division):
    true, probs, pred = random_case(seed, n, k)
    labels = np.arange(k)
    one_hot = np.eye(k, dtype=np.float32)[true]
    for ours, theirs in SINGLE_LABEL:
        for average in ("macro", "micro", "weighted", None):
            expected = theirs(true, pred, labels=labels, average=average, zero_division=zero_division)
            for y_true, y_pred in ((true, probs), (one_hot, probs), (one_hot, pred), (true, pred.astype(float))):
                close(ours(y_true, y_pred, average=average, num_classes=k, zero_division=zero_division), expected)
            close(ours(one_hot, probs, average=average, zero_division=zero_division), expected)   # k from the rows


@pytest.mark.parametrize("seed, n, k", [(5, 9, 4), (6, 400, 6)])
def test_confusion_matrix_and_accuracy_match_sklearn(seed, n, k):
    true, probs, pred = random_case(seed, n, k)
    np.testing.assert_array_equal(confusion_matrix(true, probs), skm.confusion_matrix(true, pred, labels=range(k)))
    np.testing.assert_array_equal(confusion_matrix(true, probs, labels=[3, 0, 1]),
                                  skm.confusion_matrix(true, pred, labels=[3, 0, 1]))
    assert accuracy_score(np.eye(k)[true], probs) == skm.accuracy_score(true, pred)


@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_labels_subset_matches_sklearn(zero_division):
    true, probs, pred = random_case(7, 300, 5)
    for ours, theirs in SINGLE_LABEL:
        for average in ("macro", "micro", None):
            close(ours(true, probs, average=average, labels=[4, 1], zero_division=zero_division),
                  theirs(true, pred, average=average, labels=[4, 1], zero_division=zero_division))


def test_class_absent_from_both_counts_with_zero_division():
    true, pred = [0, 0, 2, 2], [0, 2, 2, 2]
    f1_0, f1_2 = 2 * 1 / (2 * 1 + 0 + 1), 2 * 2 / (2 * 2 + 1 + 0)            # 2 TP / (2 TP + FP + FN)
    close(f1_score(true, pred, average=None, zero_division=0.0), [f1_0, 0.0, f1_2])
    close(f1_score(true, pred, average=None, zero_division=np.nan), [f1_0, np.nan, f1_2])
    close(f1_score(true, pred, zero_division=0.0), (f1_0 + 0 + f1_2) / 3)
    close(f1_score(true, pred, zero_division=1.0), (f1_0 + 1 + f1_2) / 3)
    close(f1_score(true, pred, zero_division=np.nan), (f1_0 + f1_2) / 2)           # NaN left out
    for zero_division in ZERO_DIVISIONS:
        close(f1_score(true, pred, zero_division=zero_division),
              skm.f1_score(true, pred, labels=[0, 1, 2], average="macro", zero_division=zero_division))


@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_class_never_predicted_or_never_true(zero_division):
    true, pred = [0, 0, 1, 1], [0, 0, 0, 2]         # class 1 never predicted, class 2 never true
    z = zero_division
    close(precision_score(true, pred, average=None, zero_division=z), [2 / 3, z, 0.0])
    close(recall_score(true, pred, average=None, zero_division=z), [1.0, 0.0, z])
    close(f1_score(true, pred, average=None, zero_division=z), [2 * 2 / (4 + 1 + 0), 0.0, 0.0])


@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_all_one_class(zero_division):
    true = pred = np.ones(6, dtype=int)
    z = zero_division
    close(f1_score(true, pred, average=None, num_classes=3, zero_division=z), [z, 1.0, z])
    close(precision_score(true, pred, average="micro", num_classes=3, zero_division=z), 1.0)
    assert accuracy_score(true, pred, num_classes=3) == 1.0
    assert confusion_matrix(true, pred, num_classes=3).tolist() == [[0, 0, 0], [0, 6, 0], [0, 0, 0]]
    close(f1_score(true, pred, zero_division=z), 1.0 if np.isnan(z) else (z + 1) / 2)   # classes 0 .. max: 0, 1


def test_per_sample_mask_f1_matches_sklearn():
    rng = np.random.default_rng(8)
    true_mask = rng.integers(0, 4, (3, 700)).astype(np.int8)
    probs = rng.dirichlet(np.ones(4), size=(3, 700))
    expected = skm.f1_score(true_mask.ravel(), probs.argmax(axis=-1).ravel(), labels=[1, 2, 3], average=None)
    close(f1_score(true_mask, probs, average=None, labels=[1, 2, 3]), expected)
    close(f1_score(true_mask, probs.argmax(axis=-1), average=None, labels=[1, 2, 3]), expected)


def test_classification_report_matches_sklearn(cinc_labels):
    probs = np.random.default_rng(9).dirichlet(np.ones(4), size=cinc_labels.size).astype(np.float32)
    pred = probs.argmax(axis=1)
    report = classification_report(cinc_labels, probs, classes=CINC_CLASSES)
    expected = skm.classification_report(cinc_labels, pred, labels=range(4), target_names=CINC_CLASSES,
                                         output_dict=True, zero_division=0)
    for name in CINC_CLASSES:
        assert report[name]["support"] == expected[name]["support"] == 10
        close([report[name][key] for key in ("precision", "recall", "f1")],
              [expected[name][key] for key in ("precision", "recall", "f1-score")])
    close(report["macro_f1"], expected["macro avg"]["f1-score"])
    close(report["accuracy"], expected["accuracy"])
    assert report["confusion_matrix"] == skm.confusion_matrix(cinc_labels, pred).tolist()


# --- task metrics, by hand ------------------------------------------------------------------------

CINC_CM = [[50, 2, 5, 3],       # true N: predicted N, A, O, ~
           [1, 8, 1, 0],        # true A
           [6, 1, 20, 3],       # true O
           [1, 0, 1, 3]]        # true ~
# row sums 60, 10, 30, 5; column sums 58, 11, 27, 9
F1_N, F1_A, F1_O, F1_NOISE = 2 * 50 / (60 + 58), 2 * 8 / (10 + 11), 2 * 20 / (30 + 27), 2 * 3 / (5 + 9)


def test_challenge_f1_by_hand():
    true, pred = labels_from_confusion(CINC_CM)
    assert confusion_matrix(true, pred).tolist() == CINC_CM
    assert confusion_matrix(true, pred, labels=[3, 0]).tolist() == [[3, 1], [3, 50]]
    close(challenge_f1(true, pred, classes=CINC_CLASSES), (F1_N + F1_A + F1_O) / 3)
    close(f1_score(true, pred), (F1_N + F1_A + F1_O + F1_NOISE) / 4)
    permutation = [1, 3, 0, 2]                                   # the same records with classes in another order
    reordered = [CINC_CLASSES[k] for k in permutation]
    close(challenge_f1(np.argsort(permutation)[true], np.argsort(permutation)[pred], classes=reordered),
          (F1_N + F1_A + F1_O) / 3)


def test_challenge_f1_counts_noise_predictions_as_misses():
    true, pred = [0, 0, 1, 2], [0, 3, 1, 2]                       # one N record predicted noisy
    close(challenge_f1(true, pred, classes=CINC_CLASSES), (2 / 3 + 1 + 1) / 3)
    with pytest.raises(ValueError, match=r"Received: \['O'\]"):
        challenge_f1(true, pred, classes=("N", "A", "X", "~"))


@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_aami_report_by_hand(zero_division):
    cm = [[90, 3, 2, 0],        # true N: predicted N, S, V, F
          [4, 10, 1, 0],        # true S
          [1, 0, 9, 0],         # true V
          [0, 0, 0, 0]]         # no F beat, none predicted
    true, pred = labels_from_confusion(cm)
    table = aami_report(true, pred, classes=["N", "S", "V", "F"], zero_division=zero_division)
    z = zero_division
    expected = pd.DataFrame({"TP": [90, 10, 9, 0], "FN": [5, 5, 1, 0], "FP": [5, 3, 3, 0], "TN": [20, 102, 107, 120],
                             "Se": [90 / 95, 10 / 15, 9 / 10, z], "+P": [90 / 95, 10 / 13, 9 / 12, z],
                             "Sp": [20 / 25, 102 / 105, 107 / 110, 1.0], "F1": [180 / 190, 20 / 28, 18 / 22, z]},
                            index=pd.Index(["N", "S", "V", "F"], name="class"))
    pd.testing.assert_frame_equal(table, expected, check_dtype=False, rtol=1e-12)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(true, pred, labels=range(4), zero_division=z)
    close(table[["+P", "Se", "F1"]].to_numpy().T, [precision, recall, f1])


# --- multi-label metrics against scikit-learn ------------------------------------------------------

def multilabel_case(seed, n, k):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n, k)) < 0.3).astype(np.int64)
    y_true[:2] = [[1] * k, [0] * k]                   # every class has positives and negatives
    return y_true, rng.random((n, k))


@pytest.mark.parametrize("seed, n, k", [(10, 5, 3), (11, 80, 5), (12, 2000, 12)])
@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
@pytest.mark.parametrize("threshold", [0.5, 0.2])
def test_multilabel_scores_match_sklearn(seed, n, k, zero_division, threshold):
    y_true, y_score = multilabel_case(seed, n, k)
    for ours, theirs in MULTILABEL:
        for average in ("macro", "micro", "weighted", "samples", None):
            close(ours(y_true, y_score, average=average, threshold=threshold, zero_division=zero_division),
                  theirs(y_true, y_score > threshold, average=average, zero_division=zero_division))


@pytest.mark.parametrize("zero_division", ZERO_DIVISIONS)
def test_multilabel_scores_on_ptbxl_statements(ptbxl_multi_hot, zero_division):
    y_score = np.random.default_rng(13).random(ptbxl_multi_hot.shape).astype(np.float32)
    for ours, theirs in MULTILABEL:
        close(ours(ptbxl_multi_hot.astype(bool), y_score, average=None, zero_division=zero_division),
              theirs(ptbxl_multi_hot, y_score > 0.5, average=None, zero_division=zero_division))
    both = ptbxl_multi_hot.min(axis=0) < ptbxl_multi_hot.max(axis=0)
    close(multilabel_auroc(ptbxl_multi_hot[:, both], y_score[:, both]),
          skm.roc_auc_score(ptbxl_multi_hot[:, both], y_score[:, both], average="macro"))
    never = np.column_stack([ptbxl_multi_hot, np.zeros(len(y_score), int)])     # a statement no record has
    with pytest.raises(ValueError, match=rf"classes \[{never.shape[1] - 1}\] with only one of them"):
        multilabel_auroc(never, np.column_stack([y_score, y_score[:, 0]]))


@pytest.mark.parametrize("seed, n, k", [(14, 6, 2), (15, 300, 8)])
def test_multilabel_auroc_matches_sklearn(seed, n, k):
    y_true, y_score = multilabel_case(seed, n, k)
    logits = np.log(y_score) - np.log1p(-y_score)
    for average in ("macro", "micro", "weighted", None):
        close(multilabel_auroc(y_true, logits, average=average), skm.roc_auc_score(y_true, y_score, average=average))


def test_multilabel_threshold_is_strict():
    close(multilabel_recall_score([[1, 1, 1]], [[0.5, 0.51, 1.0]], average=None), [0.0, 1.0, 1.0])
    close(multilabel_recall_score([[1, 1, 1]], [[0.0, 0.2, 0.3]], average=None, threshold=0.2), [0.0, 0.0, 1.0])


def test_multilabel_inputs_are_checked():
    with pytest.raises(ValueError, match="one shape"):
        multilabel_f1_score([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match="0 and 1"):
        multilabel_f1_score([[0, 2]], [[0.2, 0.8]])
    with pytest.raises(ValueError, match="apply a sigmoid"):
        multilabel_f1_score([[0, 1]], [[-1.5, 2.0]])
    with pytest.raises(ConfigError):
        multilabel_auroc([[0, 1], [1, 0]], [[0.2, 0.8], [0.6, 0.1]], average="median")


def sklearn_fmax(y_true, y_score, thresholds):
    best = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # thresholds predicting nothing: all NaN
        for t in thresholds:
            pred = y_score > t
            p = skm.precision_score(y_true, pred, average="samples", zero_division=np.nan)
            r = skm.recall_score(y_true, pred, average="samples", zero_division=np.nan)
            if p + r > 0:
                best = max(best, 2 * p * r / (p + r))
    return best


@pytest.mark.parametrize("seed, n, k", [(16, 4, 3), (17, 500, 6)])
def test_multilabel_fmax_matches_sklearn(seed, n, k):
    y_true, y_score = multilabel_case(seed, n, k)
    close(multilabel_fmax(y_true, y_score), sklearn_fmax(y_true, y_score, np.linspace(0, 1, 101)))


def test_multilabel_fmax_by_hand():
    y_true, y_score = [[1, 0, 0], [0, 1, 1]], [[0.9, 0.6, 0.1], [0.2, 0.8, 0.4]]
    # t = 0.5: predicted {0, 1}, {1}: precision (1/2 + 1) / 2, recall (1 + 1/2) / 2, F = 0.75
    close(multilabel_fmax(y_true, y_score, thresholds=[0.5]), 0.75)
    # t = 0.3: predicted {0, 1}, {1, 2}: precision 3/4, recall 1, F = 2 * 3/4 / (7/4) = 6/7
    close(multilabel_fmax(y_true, y_score, thresholds=[0.5, 0.3]), 6 / 7)
    assert multilabel_fmax(y_true, y_score, thresholds=[0.95]) == 0.0


# --- delineation ----------------------------------------------------------------------------------

def test_delineation_scores_by_hand():
    scores = delineation_scores([100, 500], [110, 700], fs=500)     # tolerance 150 ms = 75 samples
    assert (scores["TP"], scores["FP"], scores["FN"]) == (1, 1, 1)
    assert (scores["Se"], scores["+P"], scores["F1"]) == (0.5, 0.5, 0.5)
    assert scores["mean_error_ms"] == 20.0 and np.isnan(scores["sd_error_ms"])
    scores = delineation_scores([100, 300, 500], [506, 104, 290], fs=1000)       # 1 sample = 1 ms
    close([scores["mean_error_ms"], scores["sd_error_ms"]], [0.0, np.sqrt((4 ** 2 + 10 ** 2 + 6 ** 2) / 2)])


def test_delineation_scores_edges():
    scores = delineation_scores([100], [175], fs=500)                 # exactly 150 ms away: matched
    assert scores["TP"] == 1 and scores["mean_error_ms"] == 150.0
    assert delineation_scores([100], [176], fs=500)["TP"] == 0
    scores = delineation_scores([], [], fs=500, zero_division=np.nan)
    assert scores["TP"] == scores["FP"] == scores["FN"] == 0 and np.isnan([scores["Se"], scores["F1"]]).all()
    scores = delineation_scores([], [40, 90], fs=500)
    assert (scores["FP"], scores["Se"], scores["+P"]) == (2, 0.0, 0.0)
    with pytest.raises(ValueError, match="fs=0"):
        delineation_scores([1], [1], fs=0)


def test_matching_is_optimal_not_greedy():
    # nearest-first would pair 150 with 140 and leave 100 and 185 unmatched
    ref, det = match_positions([100, 150], [140, 185], tolerance=40)
    assert ref.tolist() == [0, 1] and det.tolist() == [0, 1]
    # exact pairs 10-10 and 20-20 would leave 0 and 30 out; three pairs 10 apart are more
    ref, det = match_positions([0, 10, 20], [10, 20, 30], tolerance=10)
    assert ref.tolist() == [0, 1, 2] and det.tolist() == [0, 1, 2]


@pytest.mark.parametrize("seed", [18, 19, 20])
def test_matching_has_most_pairs_and_least_error(seed):
    rng = np.random.default_rng(seed)
    reference, detected = rng.integers(0, 3000, 60), rng.integers(0, 3000, 70)
    tolerance = 25
    ref, det = match_positions(reference, detected, tolerance)
    distance = np.abs(reference[:, None] - detected[None, :])
    assert np.unique(ref).size == ref.size and np.unique(det).size == det.size
    assert (distance[ref, det] <= tolerance).all()
    most = (maximum_bipartite_matching(csr_array((distance <= tolerance).astype(np.int8)), perm_type="column") >= 0).sum()
    assert ref.size == most
    rows, cols = linear_sum_assignment(np.where(distance <= tolerance, distance, 10 ** 9))
    least = distance[rows, cols][distance[rows, cols] <= tolerance].sum()
    assert distance[ref, det].sum() == least


def test_delineation_report_on_ludb_shifted_mask(ludb_mask):
    mask, onsets, offsets, labels = ludb_mask
    assert offsets.max() < mask.size - 5 and onsets.min() >= 0
    shifted = np.concatenate([np.zeros(5, mask.dtype), mask[:-5]])       # 5 samples = 10 ms late
    report = delineation_report(mask, shifted, fs=500)
    for k, wave in enumerate(("p", "N", "t"), start=1):
        for side in ("onset", "offset"):
            row = report.loc[(wave, side)]
            assert (row["TP"], row["FP"], row["FN"]) == ((labels == k).sum(), 0, 0)
            assert row["mean_error_ms"] == 10.0 and row["sd_error_ms"] == 0.0
    far = np.concatenate([np.zeros(80, mask.dtype), mask[:-80]])         # 160 ms late: beyond 150 ms
    report = delineation_report(mask, far, fs=500)
    assert (report["TP"] == 0).all() and (report["F1"] == 0).all()


def test_delineation_report_by_hand():
    fs = 250                                            # 1 sample = 4 ms
    true, pred = np.zeros((2, 300), dtype=np.int8), np.zeros((2, 300), dtype=np.int8)
    true[0, 10:31], true[0, 50:71], true[0, 100:151] = 1, 2, 3
    pred[0, 14:31], pred[0, 50:73] = 1, 2               # P onset 4 samples late, QRS offset 2 late, no T
    true[1, 50:71] = 2
    pred[1, 48:71], pred[1, 200:221] = 2, 1             # QRS onset 2 early, a spurious P wave
    report = delineation_report(true, pred, fs=fs)
    expected = {("p", "onset"): (1, 1, 0, 16.0), ("p", "offset"): (1, 1, 0, 0.0),
                ("N", "onset"): (2, 0, 0, -4.0), ("N", "offset"): (2, 0, 0, 4.0),
                ("t", "onset"): (0, 0, 1, np.nan), ("t", "offset"): (0, 0, 1, np.nan)}
    for key, (tp, fp, fn, mean_ms) in expected.items():
        row = report.loc[key]
        assert (row["TP"], row["FP"], row["FN"]) == (tp, fp, fn)
        close(row["mean_error_ms"], mean_ms)
    close(report.loc[("N", "onset"), "sd_error_ms"], np.sqrt(2 * 4.0 ** 2))   # errors 0 and -8 ms
    close(report.loc[("t", "onset"), ["Se", "+P", "F1"]].to_numpy(float), [0.0, 0.0, 0.0])


def test_delineation_report_does_not_match_across_records():
    true, pred = np.zeros((2, 100), dtype=np.int8), np.zeros((2, 100), dtype=np.int8)
    true[0, 40:60], pred[1, 40:60] = 2, 2
    row = delineation_report(true, pred, fs=500, classes=["p", "N"]).loc[("N", "onset")]
    assert (row["TP"], row["FP"], row["FN"]) == (0, 1, 1)


def test_delineation_report_checks_masks():
    with pytest.raises(ValueError, match="integer class masks"):
        delineation_report(np.zeros(10), np.zeros(10), fs=500)
    with pytest.raises(ValueError, match="mask values from 0 to 3"):
        delineation_report(np.full(10, 4), np.zeros(10, int), fs=500)
    with pytest.raises(ValueError, match="one shape"):
        delineation_report(np.zeros(10, int), np.zeros(11, int), fs=500)


# --- in-graph Keras metrics against scikit-learn ---------------------------------------------------

@pytest.fixture(scope="module")
def keras_batch():
    pytest.importorskip("keras")
    true, probs, pred = random_case(21, 48, 4)
    true[:4] = pred[:4] = [0, 1, 2, 2]                   # class 3: no true and no predicted sample
    true[true == 3], pred[pred == 3] = 0, 1
    probs[np.arange(48), pred] += 2.0                   # keep pred the argmax
    probs /= probs.sum(axis=1, keepdims=True)
    assert (probs.argmax(axis=1) == pred).all() and 3 not in true and 3 not in pred
    return true, np.eye(4, dtype=np.float32)[true], probs.astype(np.float32), pred


def keras_result(name, y_true, y_pred, **kwargs):
    metric = keras_metric(name, **kwargs)
    metric.update_state(y_true[:20], y_pred[:20])        # two updates: the state accumulates
    metric.update_state(y_true[20:], y_pred[20:])
    return np.asarray(metric.result(), dtype=np.float64)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_keras_f1_matches_sklearn(keras_batch, average):
    true, one_hot, probs, pred = keras_batch
    expected = skm.f1_score(true, pred, labels=range(4), average=average, zero_division=0)
    np.testing.assert_allclose(keras_result("f1_score", one_hot, probs, average=average), expected, rtol=1e-5)
    np.testing.assert_allclose(f1_score(one_hot, probs, average=average), expected, rtol=1e-12)


def test_keras_accuracy_precision_recall_auc_match_sklearn(keras_batch):
    true, one_hot, probs, pred = keras_batch
    np.testing.assert_allclose(keras_result("accuracy", one_hot, probs), skm.accuracy_score(true, pred), rtol=1e-6)
    for name, score in (("precision", skm.precision_score), ("recall", skm.recall_score)):
        np.testing.assert_allclose(keras_result(name, one_hot, probs), score(one_hot, probs > 0.5, average="micro"),
                                   rtol=1e-5)
        np.testing.assert_allclose(keras_result(name, one_hot, probs),
                                   getattr(metrics, f"multilabel_{name}_score")(one_hot, probs, average="micro"),
                                   rtol=1e-5)
    auc = keras_result("auc", one_hot, probs, num_thresholds=2000)           # a Riemann sum over thresholds
    np.testing.assert_allclose(auc, skm.roc_auc_score(one_hot, probs, average="micro"), atol=2e-3)


def test_keras_metric_passes_objects_through_and_names_unknown():
    assert keras_metric(len) is len
    with pytest.raises(ConfigError, match="unknown metric 'f2'"):
        keras_metric("f2")


def test_docstring_examples():
    result = doctest.testmod(metrics, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0


# --- denoising and anomaly scores, against the formulas and brute force --------------------
def test_denoising_scores_match_their_definitions(fixture_dir):
    clean = wfdb.rdrecord(str(fixture_dir / "mitdb" / "100"), sampto=7200).p_signal.T.reshape(4, 3600)
    noisy = clean + np.random.default_rng(0).normal(0, 0.1, clean.shape)
    denoised = 0.5 * (clean + noisy)
    for row in range(4):
        c, n, d = clean[row], noisy[row], denoised[row]
        ref_snr = 10 * np.log10(np.dot(c, c) / np.dot(c - d, c - d))
        assert metrics.snr_db(clean, denoised)[row] == pytest.approx(ref_snr)
        assert metrics.snr_improvement_db(clean, noisy, denoised)[row] == pytest.approx(
            ref_snr - 10 * np.log10(np.dot(c, c) / np.dot(c - n, c - n)))
        assert metrics.rmse(clean, denoised)[row] == pytest.approx(np.linalg.norm(c - d) / np.sqrt(c.size))
        assert metrics.prd(clean, denoised)[row] == pytest.approx(100 * np.linalg.norm(c - d) / np.linalg.norm(c))
    # halving the error is 20 log10(2) dB better
    np.testing.assert_allclose(metrics.snr_improvement_db(clean, noisy, denoised), 20 * np.log10(2))
    with pytest.raises(ValueError, match="one shape"):
        metrics.snr_db(clean, denoised[:, :10])


def brute_sensitivity(y, score, specificity):
    """Sensitivity at every threshold (each distinct score), the best one at the specificity."""
    best = 0.0
    for t in np.unique(score):
        positive = score >= t
        if np.mean(~positive[~y]) >= specificity:
            best = max(best, np.mean(positive[y]))
    return best


def test_anomaly_scores_match_brute_force():
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.2
    score = np.round(rng.normal(size=400) + 1.2 * y, 1)               # ties too
    pairs = (score[y][:, None] > score[~y][None]).mean() + 0.5 * (score[y][:, None] == score[~y][None]).mean()
    assert metrics.auroc(y, score) == pytest.approx(pairs)
    assert metrics.auroc(y, score) == pytest.approx(skm.roc_auc_score(y, score))
    for spec in (0.5, 0.9, 0.95, 0.99):
        sens, threshold = metrics.sensitivity_at_specificity(y, score, spec)
        assert sens == pytest.approx(brute_sensitivity(y, score, spec))
        assert np.mean(score[~y] < threshold) >= spec
    with pytest.raises(ValueError, match="positives and negatives"):
        metrics.auroc(np.zeros(5), np.arange(5.0))
