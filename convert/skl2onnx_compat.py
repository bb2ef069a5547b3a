"""One well-named workaround for skl2onnx 1.20 under protobuf 7.

Its HistGradientBoosting converter passes numpy integers and booleans (e.g.
``nodes_missing_value_tracks_true``) into ONNX attributes; protobuf 7 rejects them
("Expected an int, got a boolean"). Casting the node fields to plain ``int`` in
``tree_ensemble.add_node`` fixes it and keeps NaN routing correct (FACTS.md). Remove
when skl2onnx casts these itself.
"""

from __future__ import annotations

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    import skl2onnx.common.tree_ensemble as tree_ensemble

    original = tree_ensemble.add_node

    def add_node(attr_pairs, is_classifier, tree_id, tree_weight, node_id, feature_id, mode, value,
                 true_child_id, false_child_id, *args, nodes_missing_value_tracks_true=0, **kwargs):
        return original(attr_pairs, is_classifier, int(tree_id), tree_weight, int(node_id), int(feature_id), mode,
                        value, int(true_child_id), int(false_child_id), *args,
                        nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    tree_ensemble.add_node = add_node
    _applied = True
