from labeling.dashboard.views import _queue_label


def test_queue_labels_name_strategy_and_model_once():
    refill = {"queue_strategy": "convincing_wrong", "queue_model_version": "v2", "queue_generation": 2}
    assert _queue_label(refill) == "convincing_wrong · v2"
    imported = {"queue_strategy": "", "queue_model_version": "", "queue_generation": 3}
    assert _queue_label(imported) == "import · gen 3"
    assert _queue_label({"queue_strategy": None, "queue_model_version": None, "queue_generation": None}) == "import"
