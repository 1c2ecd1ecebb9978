"""Rasa's model graph run in a plain loop instead of through dask.

Rasa runs its trained graph three times per message (NLU, then a prediction per action)
with ``DaskGraphRunner``: each run selects the nodes the targets need, builds a dask graph
and lets dask order and execute it. For a graph of about ten nodes that scheduling cost
more than some of the components it ran. ``SequentialGraphRunner`` works out the order
once per set of targets and calls the same nodes, with the same inputs, in that order:
the results are the same (tests/rasa_patches/test_graph_runner.py compares them on the project's model).

``install()`` (through bot/rasa_patches/__init__.py) makes Rasa's message
processor load models with it; training is unchanged.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner


class SequentialGraphRunner(DaskGraphRunner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: Dict[Tuple[Text, ...], List[Tuple[Text, List[Text]]]] = {}

    def _plan(self, targets: Tuple[Text, ...]) -> List[Tuple[Text, List[Text]]]:
        """The nodes the targets need, each after the nodes it needs, with those nodes' names."""
        plan = self._plans.get(targets)
        if plan is None:
            nodes = self._graph_schema.nodes
            plan, placed, visiting = [], set(), set()

            def place(name: Text) -> None:
                if name in placed or name not in nodes:  # not a node: an input
                    return
                if name in visiting:
                    raise GraphRunError(f"The graph has a cycle through '{name}'.")
                visiting.add(name)
                needs = list(nodes[name].needs.values())
                for need in needs:
                    place(need)
                visiting.discard(name)
                placed.add(name)
                plan.append((name, needs))

            for target in targets:
                place(target)
            self._plans[targets] = plan
        return plan

    def run(self, inputs: Optional[Dict[Text, Any]] = None,
            targets: Optional[List[Text]] = None) -> Dict[Text, Any]:
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        plan = self._plan(run_targets)
        values: Dict[Text, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._graph_schema.nodes:
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure that none of the input "
                    f"names passed to the `run` method are the same as node names in the graph schema.")
            values[name] = (name, value)
        try:
            for name, needs in plan:
                # a node gets each needed node's (name, output); dask passed an unknown name as itself
                values[name] = self._instantiated_nodes[name](*[values.get(need, need) for need in needs])
        except RuntimeError as error:
            raise GraphRunError("Error running runner.") from error
        return dict(values[target] for target in run_targets)


def install() -> None:
    import rasa.core.processor

    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner  # type: ignore[misc]
