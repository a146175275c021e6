"""A recorded iteration (a :class:`~numbanet.trace.Trace`) as a :class:`Picture`.

The forward graph
    One node per forward op (``phase`` ``forward`` or ``loss``); an arrow from the op that
    produced each input (``producer_node_id``) — or from a *leaf* node when nothing in the
    trace produced it: a parameter (``fc1.weight``), an input or a target.

The backward graph
    One node per backward op and one per ``AccumulateGrad`` (where a parameter's gradient
    lands); an arrow from each node that sent it a gradient (``input_node_ids``). With
    ``show_saved`` each backward op also gets an orange node listing what its forward op
    saved for it.

Both
    The two, side by side, with a dashed line from each forward op to its backward op
    (``forward_node_id``) and from each parameter to its ``AccumulateGrad``, plus the
    optimizer step that reads the gradients.

Modules become clusters: ``module_path`` ``Net.fc1`` draws a box ``fc1`` inside a box
``Net``. The loss's ops sit in a red ``loss`` cluster. ``depth=N`` keeps N levels of
clusters and draws each module one level deeper as a single node, so a ResNet can be seen
as its blocks. In the backward view a backward op sits in the cluster of its forward op;
in both views the clusters frame the forward graph only and each backward op is drawn in
line with its forward op, to its right — two module boxes per layer would be clutter.

Slide-sized by default: an ``nn.Linear`` (a transpose, a matmul and an add in numbanet) is
one node, named as PyTorch names it (``linear``, backward ``AddmmBackward0``) unless
``expand``; a module box holding a single op is dropped and its name goes into the op's
title; three or more identical modules in a row become one node ``Linear × 12``; ``focus``
keeps only the paths from one parameter to the loss.

Clusters are named by module path; when ``trace.metadata["module_types"]`` maps paths to
class names (``numbanet.trace.record(model)`` records it) they read
``Sequential.0: Linear``.

The forward graph is the ops recorded before the first backward event: ops that backward
rules or the optimizer run internally are how those nodes work, not part of the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from numbanet.trace import MODULE_TYPES, Event, TensorRecord, Trace

from . import labels
from .picture import DrawnEdge, DrawnNode, Picture

FORWARD_PHASES = ("forward", "loss")
MIN_REPEATS = 3  # this many identical modules in a row are drawn as one node "× N"

#: Modules that PyTorch runs as one op but numbanet as several (an ``nn.Linear`` is
#: ``x @ W.t() + b``): drawn as one node unless ``expand``, named as PyTorch's autograd names
#: them (forward op, backward node).
FOLDED_MODULES = {"Linear": ("linear", "AddmmBackward0")}

def _group_name(group, types: dict[str, str]) -> str:
    """``Sequential.0: Linear``, or ``Sequential.0 ... Sequential.11: Linear × 12``."""
    if group.repeats <= 1:
        return _module_name(group.path, types)
    kind = types.get(".".join(group.path)) or group.path[-1]
    return (f"{'.'.join(group.path)} ... {'.'.join(group.last_path)}: "
            f"{kind} \u00d7 {group.repeats}")


def _module_name(path: tuple[str, ...], types: dict[str, str]) -> str:
    name = ".".join(path)
    kind = types.get(name)
    return f"{name}: {kind}" if kind and kind != path[-1] else name


@dataclass
class _ModuleGroup:
    """Consecutive forward events of one collapsed module call."""

    name: str  # m<first event id>
    path: tuple[str, ...]  # the collapsed module's full path
    events: list[Event] = field(default_factory=list)
    parameters: list[TensorRecord] = field(default_factory=list)
    repeats: int = 1  # > 1: this many identical blocks in a row, folded into one node
    last_path: tuple[str, ...] = ()  # the last of those blocks


def picture_from_trace(trace: Trace, view: str, depth: int | None,
                       show_saved: bool = True, links: bool = False,
                       expand: bool = False, focus: str | None = None) -> Picture:
    """Build the picture of ``trace`` for ``view`` = ``forward``, ``backward`` or ``both``.

    ``links``: in ``both``, join each forward op to its backward op with a dashed line and
    draw the two level with each other. ``expand``: draw the primitives of a
    :data:`FOLDED_MODULES` module (an ``nn.Linear`` is a transpose, a matmul and an add)
    instead of one node named as PyTorch names it. ``focus``: a parameter's name; draw
    only the paths from it to the loss (see :func:`focus_on`).
    """
    if focus is not None:
        trace = focus_on(trace, focus)
    builder = _TraceBuilder(trace, depth, show_saved, expand)
    builder.place_forward()
    if view in ("forward", "both"):
        builder.draw_forward()
    if view in ("backward", "both"):
        builder.draw_backward(in_both=view == "both", links=links and view == "both")
    if view == "both":
        builder.draw_optimizer()
    builder.picture.inline_lone_clusters()
    return builder.picture


def focus_on(trace: Trace, parameter: str) -> Trace:
    """``trace`` cut down to the paths from ``parameter`` (``"fc1.weight"``) to the loss:
    the forward ops that read it or read something computed from it, their backward ops,
    the parameter's ``AccumulateGrad`` and the optimizer step. Everything else is gone."""
    forward, backward, optimizer = _split_events(trace)
    tensor_ids = {record.tensor_id for event in forward for record in event.inputs
                  if record is not None and record.name == parameter}
    if not tensor_ids:
        names = sorted({r.name for e in forward for r in e.inputs if r is not None and r.name})
        raise ValueError(f"no parameter {parameter!r} in this trace; its parameters: "
                         f"{', '.join(names) or 'none'}")
    kept: set[int] = set()
    for event in forward:  # execution order: a producer comes before its consumers
        if any(r is not None and (r.tensor_id in tensor_ids or r.producer_node_id in kept)
               for r in event.inputs):
            kept.add(event.node_id)
    events = [e for e in forward if e.node_id in kept]
    events += [e for e in backward if e.forward_node_id in kept or (
        e.op == "AccumulateGrad" and e.saved and e.saved[0].tensor_id in tensor_ids)]
    events += optimizer
    return Trace(events=events, parameter_names=trace.parameter_names,
                 metadata={**trace.metadata, "focus": parameter})


def _split_events(trace: Trace) -> tuple[list[Event], list[Event], list[Event]]:
    first_backward = next((i for i, e in enumerate(trace.events) if e.phase == "backward"),
                          len(trace.events))
    forward = [e for e in trace.events[:first_backward] if e.phase in FORWARD_PHASES]
    backward = [e for e in trace.events if e.phase == "backward"]
    optimizer = [e for e in trace.events if e.phase == "optimizer"]
    return forward, backward, optimizer


class _TraceBuilder:
    """Walks the events once per graph; every loop is a plain ``for`` (no recursion)."""

    def __init__(self, trace: Trace, depth: int | None, show_saved: bool,
                 expand: bool = False):
        self.depth = depth
        self.expand = expand
        self.show_saved = show_saved
        self.picture = Picture()
        self.forward, self.backward, self.optimizer = _split_events(trace)
        self.forward_by_id = {e.node_id: e for e in self.forward}
        #: forward events a focus left out (ids below the largest kept one, not kept)
        self.dropped = set(range(max(self.forward_by_id, default=-1))) - set(
            self.forward_by_id) if "focus" in trace.metadata else set()
        self.drawn_forward: dict[int, str] = {}  # forward event id -> drawn node name
        self.groups: dict[str, _ModuleGroup] = {}
        self.cluster_of_event: dict[int, tuple[str, ...]] = {}
        self.leaf_cluster: dict[int, tuple[str, ...]] = {}  # tensor id -> cluster
        self.parameter_ids: set[int] = set()
        self.leaf_absorbed: dict[int, str] = {}  # tensor id -> group that hides it
        self.drawn_backward: dict[int, str] = {}  # backward event id -> drawn node name
        self.module_types: dict[str, str] = trace.metadata.get(MODULE_TYPES, {})

    # ---- where each forward event goes --------------------------------------------------
    def _module_path(self, event: Event) -> tuple[str, ...]:
        path = tuple(event.module_path.split(".")) if event.module_path else ()
        if event.phase == "loss":
            if not path:
                path = ("loss",)
            self.picture.loss_clusters.add(path[:1])
        return path

    def place_forward(self) -> None:
        """Decide the cluster or collapsed group of every forward event and leaf tensor."""
        previous_key, group = None, None
        for event in self.forward:
            path = self._module_path(event)
            key = self._collapse_key(path)
            if key is not None:
                if key != previous_key:  # a new call of the collapsed module
                    group = _ModuleGroup(f"m{event.node_id}", key)
                    self.groups[group.name] = group
                group.events.append(event)
                self.drawn_forward[event.node_id] = group.name
                self.cluster_of_event[event.node_id] = key[:-1]
                previous_key = key
            else:
                self.drawn_forward[event.node_id] = f"n{event.node_id}"
                self.cluster_of_event[event.node_id] = path
                previous_key = None
            for cluster_length in range(1, len(path) + 1):
                self.picture.cluster_labels.setdefault(
                    path[:cluster_length], self._cluster_label(path[:cluster_length]))
        self._fold_repeats()
        self._place_leaves()

    def _fold_repeats(self) -> None:
        """Fold :data:`MIN_REPEATS` or more identical modules in a row into one node
        (``Sequential.0 ... Sequential.11: Linear × 12``): same class, same ops, same output
        shape, each fed by the one before. A deep stack then reads as what it is."""
        def signature(group: _ModuleGroup) -> tuple:
            outputs = [r for r in group.events[-1].outputs if r is not None]
            leaves = tuple(tuple(r.shape) for e in group.events for r in self._leaf_inputs(e))
            return (group.path[:-1], self.module_types.get(".".join(group.path), ""),
                    tuple(e.op for e in group.events), leaves,
                    tuple(outputs[0].shape) if outputs else ())

        def feeds(first: _ModuleGroup, second: _ModuleGroup) -> bool:
            made = {r.tensor_id for e in first.events for r in e.outputs if r is not None}
            return any(r is not None and r.tensor_id in made
                       for e in second.events for r in e.inputs)

        groups = list(self.groups.values())
        runs, run = [], groups[:1]
        for group in groups[1:]:
            if signature(group) == signature(run[-1]) and feeds(run[-1], group):
                run.append(group)
            else:
                runs.append(run)
                run = [group]
        runs.append(run)
        for run in runs:
            if len(run) < MIN_REPEATS:
                continue
            first = run[0]
            first.repeats, first.last_path = len(run), run[-1].path
            for other in run[1:]:
                first.events.extend(other.events)
                for event in other.events:
                    self.drawn_forward[event.node_id] = first.name
                del self.groups[other.name]

    def _collapse_key(self, path: tuple[str, ...]) -> tuple[str, ...] | None:
        """The module drawn as one node that holds an op at ``path``, if any: the module
        ``depth`` levels down, or a :data:`FOLDED_MODULES` module (unless ``expand``)."""
        if self.depth is not None and len(path) > self.depth:
            return path[: self.depth + 1]
        if not self.expand:
            for length in range(1, len(path) + 1):
                if self.module_types.get(".".join(path[:length])) in FOLDED_MODULES:
                    return path[:length]
        return None

    def _folded(self, group: _ModuleGroup) -> tuple[str, str] | None:
        """PyTorch's (forward, backward) names when ``group`` is one folded module."""
        if self.expand:
            return None
        return FOLDED_MODULES.get(self.module_types.get(".".join(group.path), ""))

    def _cluster_label(self, path: tuple[str, ...]) -> str:
        """The module path as the stepper shows it, with the module's class when the trace
        knows it (``Net.fc1: Linear``); ``loss: ...`` for the criterion."""
        if path[:1] in self.picture.loss_clusters:
            return "loss" if path == ("loss",) else f"loss: {'.'.join(path)}"
        return _module_name(path, self.module_types)

    def _place_leaves(self) -> None:
        """A parameter sits in the cluster of its first consumer (or inside its collapsed
        module); inputs and targets sit at the top level."""
        consumers: dict[int, list[str]] = {}
        for event in self.forward:
            for record in self._leaf_inputs(event):
                consumers.setdefault(record.tensor_id, []).append(
                    self.drawn_forward[event.node_id])
                if record.tensor_id in self.leaf_cluster:
                    continue
                is_parameter = record.role == "parameter" or bool(record.name)
                if is_parameter:
                    self.parameter_ids.add(record.tensor_id)
                cluster = self.cluster_of_event[event.node_id] if is_parameter else ()
                self.leaf_cluster[record.tensor_id] = cluster
        for tensor_id, users in consumers.items():
            first = users[0]
            if (tensor_id in self.parameter_ids and first in self.groups
                    and all(user == first for user in users)):
                self.leaf_absorbed[tensor_id] = first  # a parameter used inside one module

    def _leaf_inputs(self, event: Event) -> list[TensorRecord]:
        """The inputs of ``event`` that no drawn forward event produced."""
        return [r for r in event.inputs
                if r is not None and r.producer_node_id not in self.forward_by_id]

    # ---- forward ------------------------------------------------------------------------
    def draw_forward(self) -> None:
        picture = self.picture
        for event in self.forward:
            name = self.drawn_forward[event.node_id]
            if name in self.groups:
                self._extend_group(self.groups[name], event)
            else:
                picture.add_node(DrawnNode(
                    name, "activation", self._forward_label(event),
                    self.cluster_of_event[event.node_id],
                    labels.tooltip(f"{name}: {event.op}", event.source,
                                   event.formula.splitlines()[0] if event.formula else ""),
                    (event.node_id,)))
            for record in event.inputs:
                if record is None:
                    continue
                if record.producer_node_id in self.forward_by_id:
                    picture.add_edge(self.drawn_forward[record.producer_node_id], name, "data")
                elif record.producer_node_id in self.dropped:
                    continue  # made by an op that --focus left out: not a leaf
                elif record.tensor_id not in self.leaf_absorbed:
                    leaf = self._add_leaf(record, event)
                    picture.add_edge(leaf, name, "data")
        for group in self.groups.values():
            picture.add_node(DrawnNode(
                group.name, "activation" if self._folded(group) else "module",
                self._group_label(group), group.path[:-1],
                labels.tooltip(f"{group.name}: module {'.'.join(group.path)}",
                               group.events[0].source),
                tuple(e.node_id for e in group.events)))

    def _extend_group(self, group: _ModuleGroup, event: Event) -> None:
        for record in self._leaf_inputs(event):
            if self.leaf_absorbed.get(record.tensor_id) == group.name and \
                    record.tensor_id not in {p.tensor_id for p in group.parameters}:
                group.parameters.append(record)

    def _add_leaf(self, record: TensorRecord, consumer: Event) -> str:
        name = f"t{record.tensor_id}"
        is_parameter = record.role == "parameter" or bool(record.name)
        if record.name:
            title = record.name
        elif consumer.phase == "loss":
            title = "target"
        else:
            title = "input x"
        rows = labels.tensor_rows(record)
        if record.requires_grad and not is_parameter:
            rows.append("requires_grad=True")
        self.picture.add_node(DrawnNode(
            name, "parameter" if is_parameter else "input", labels.node_label(title, rows),
            self.leaf_cluster.get(record.tensor_id, ()),
            labels.tooltip(f"{name}: {title}", f"tensor {record.tensor_id}")))
        return name

    def _forward_label(self, event: Event) -> str:
        title = _title(event)
        arguments = labels.attributes_text(event.attributes)
        outputs = [r for r in event.outputs if r is not None]
        rows = labels.tensor_rows(outputs[0]) if outputs else []
        if len(outputs) > 1:
            rows.append(f"(+{len(outputs) - 1} more outputs)")
        return labels.node_label(title, [arguments], rows)

    def _group_label(self, group: _ModuleGroup) -> str:
        ops = _counted([e.op for e in group.events[:len(group.events) // group.repeats]])
        folded = self._folded(group)
        if folded:  # compact: the formula and the parameters' shapes on one line each
            parameters = _parameters_text(group.parameters)
            last_outputs = [r for r in group.events[-1].outputs if r is not None]
            rows = labels.tensor_rows(last_outputs[0]) if last_outputs else []
            return labels.node_label(_group_name(group, self.module_types),
                                     [f"{folded[0]}: x @ weight.T + bias", parameters], rows)
        last_outputs = [r for r in group.events[-1].outputs if r is not None]
        output_rows = labels.tensor_rows(last_outputs[0]) if last_outputs else []
        parameters = _parameters_text(group.parameters)
        kind = self.module_types.get(".".join(group.path), "")
        if ops.lower() == kind.lower():
            ops = ""  # "Sequential.1: ReLU" ran one Relu: the title says it already
        return labels.node_label(_group_name(group, self.module_types), [ops],
                                 output_rows, [parameters])

    # ---- backward -----------------------------------------------------------------------
    def _backward_target(self, event: Event) -> tuple[str, tuple[str, ...]]:
        """(drawn name, cluster) of a backward event: its own node, or a collapsed one."""
        if event.op == "AccumulateGrad" and event.saved:
            leaf = event.saved[0].tensor_id
            if leaf in self.leaf_absorbed:
                group = self.groups[self.leaf_absorbed[leaf]]
                return f"{group.name}b", group.path[:-1]
            cluster = self.leaf_cluster.get(leaf)
            if cluster is None:
                cluster = self._parameter_cluster(event)
            return f"n{event.node_id}", cluster
        forward_name = self.drawn_forward.get(event.forward_node_id)
        if forward_name in self.groups:
            group = self.groups[forward_name]
            return f"{group.name}b", group.path[:-1]
        cluster = self.cluster_of_event.get(event.forward_node_id)
        if cluster is None:
            cluster = tuple(event.module_path.split(".")) if event.module_path else ()
        return f"n{event.node_id}", cluster

    def _parameter_cluster(self, event: Event) -> tuple[str, ...]:
        """A parameter never seen in the forward graph: the cluster named by its prefix."""
        name = event.attributes.get("parameter") or ""
        path = tuple(name.split(".")[:-1])
        return path if path in self.picture.cluster_labels else ()

    def draw_backward(self, in_both: bool, links: bool = False) -> None:
        """The backward graph; ``in_both``: drawn beside the forward one, so out of the
        module clusters (see the module docstring) and mirrored, gradients flowing up."""
        picture = self.picture
        picture.gradients_flow_up = in_both
        link_to_forward = in_both
        collapsed: dict[str, list[Event]] = {}
        for event in self.backward:
            name, cluster = self._backward_target(event)
            cluster = () if link_to_forward else cluster  # see the module docstring
            self.drawn_backward[event.node_id] = name
            if name.startswith("m"):
                collapsed.setdefault(name, []).append(event)
                continue
            kind = "leaf_gradient" if event.op == "AccumulateGrad" else "gradient"
            label = (self._accumulate_label(event) if kind == "leaf_gradient"
                     else self._backward_label(event))
            picture.add_node(DrawnNode(
                name, kind, label, cluster,
                labels.tooltip(f"{name}: {event.op}", event.source, _gradient_line(event)),
                (event.node_id,)))
            if self.show_saved and event.saved and kind == "gradient":
                saved_name = f"s{event.node_id}"
                picture.add_node(DrawnNode(
                    saved_name, "saved", self._saved_label(event), cluster,
                    labels.tooltip(f"{saved_name}: saved for {event.op}")))
                picture.add_edge(saved_name, name, "saved")
                picture.same_rank.append((name, saved_name))
        for name, events in collapsed.items():
            group = self.groups[name[:-1]]
            picture.add_node(DrawnNode(
                name, "gradient", self._collapsed_backward_label(group, events),
                () if link_to_forward else group.path[:-1],
                labels.tooltip(f"{name}: backward of {'.'.join(group.path)}"),
                tuple(e.node_id for e in events)))
        for event in self.backward:
            name = self.drawn_backward[event.node_id]
            for sender in event.input_node_ids:
                if sender in self.drawn_backward:
                    tail = self.drawn_backward[sender]
                    picture.add_edge(tail, name, "gradient")
                    size = _gradient_size(event, sender)
                    if size is not None and tail != name:
                        key = (tail, name)
                        picture.gradient_sizes[key] = max(picture.gradient_sizes.get(key, 0.0),
                                                          size)
            if links:
                self._link(event, name)

    def _link(self, event: Event, backward_name: str) -> None:
        """Dashed line from a forward op (or a parameter) to the backward node of it, the
        two drawn side by side (the backward graph mirrors the forward one, so these rank
        constraints never contradict the arrows). Its ports (``style.EDGE_STYLE["link"]``)
        keep it off the module clusters' labels."""
        if event.op == "AccumulateGrad" and event.saved:
            forward_name = f"t{event.saved[0].tensor_id}"
            if forward_name not in self.picture.nodes:
                return
        elif event.forward_node_id in self.drawn_forward:
            forward_name = self.drawn_forward[event.forward_node_id]
        else:
            return
        if DrawnEdge(forward_name, backward_name, "link") not in self.picture.edges:
            self.picture.add_edge(forward_name, backward_name, "link")
            self.picture.same_rank.append((forward_name, backward_name))

    def _input_description(self, forward: Event | None, index: int) -> str:
        """How a backward op's output gradient is named: by the forward input it is for."""
        if forward is None or index >= len(forward.inputs) or forward.inputs[index] is None:
            return f"input {index}"
        record = forward.inputs[index]
        if record.name:
            return record.name
        producer = self.forward_by_id.get(record.producer_node_id)
        if producer is not None:
            return self._producer_title(producer)
        return "input" if record.producer_node_id is None else f"input {index}"

    def _producer_title(self, producer: Event) -> str:
        """How to name the op that made a tensor: its node's title, or the collapsed
        module holding it (``Sequential.0: Linear``) — as the graph draws it."""
        group = self.groups.get(self.drawn_forward.get(producer.node_id, ""))
        if group is not None:
            return _group_name(group, self.module_types)
        return _title(producer)

    def _leaf_title(self, record: TensorRecord) -> str:
        """``input x`` for the model's data, ``target`` for the loss's: as drawn."""
        for event in self.forward:
            if any(r is not None and r.tensor_id == record.tensor_id for r in event.inputs):
                return "target" if event.phase == "loss" else "input x"
        return "input"

    def _backward_label(self, event: Event) -> str:
        forward = self.forward_by_id.get(event.forward_node_id)
        rows = []
        if None in event.input_node_ids and event.inputs and event.inputs[0] is not None:
            rows.append("seed: " + labels.value_rows(event.inputs[0].stats,
                                                     event.inputs[0].values)[0])
        for index, gradient in enumerate(event.outputs):
            if gradient is not None:
                rows.append(labels.gradient_row(self._input_description(forward, index),
                                                gradient))
        return labels.node_label(_title(event), rows)

    def _accumulate_label(self, event: Event) -> str:
        leaf = event.saved[0] if event.saved else None
        name = event.attributes.get("parameter") or (leaf.name if leaf else None) or "input"
        rows = [f"{name}.grad", *labels.tensor_rows(event.outputs[0], with_dtype=False)] \
            if event.outputs and event.outputs[0] is not None else [f"{name}.grad"]
        total = [f"sum of {len(event.contributions)} gradients"] \
            if len(event.contributions) > 1 else []
        return labels.node_label(_title(event), rows, total)

    def _saved_label(self, event: Event) -> str:
        forward = self.forward_by_id.get(event.forward_node_id)
        input_ids = {r.tensor_id for r in forward.inputs if r} if forward else set()
        output_ids = {r.tensor_id for r in forward.outputs if r} if forward else set()
        rows = []
        for record in event.saved:
            producer = self.forward_by_id.get(record.producer_node_id)
            if record.name:
                what = record.name
            elif record.tensor_id in output_ids:
                what = f"its output ({forward.op})" if forward else "its output"
            elif producer is not None:
                what = f"output of {self._producer_title(producer)}"
            elif record.tensor_id in input_ids:
                what = self._leaf_title(record)
            else:  # a tensor the op made for itself (softmax probabilities, a mask)
                what = f"made inside {forward.op}" if forward else "made in forward"
            rows.append(f"{what} {labels.shape_text(record.shape)}")
        return labels.node_label("saved for backward", rows)

    def _collapsed_backward_label(self, group: _ModuleGroup, events: list[Event]) -> str:
        gradients = [e.outputs[0] for e in events
                     if e.op == "AccumulateGrad" and e.outputs and e.outputs[0] is not None]
        rows = [f"{record.name or 'leaf'}.grad {labels.shape_text(record.shape)}"
                for record in gradients]
        folded = self._folded(group)
        if folded:
            title = f"{folded[1]} ({'.'.join(group.path)})" if group.repeats == 1 else \
                f"{folded[1]} \u00d7 {group.repeats}"
            rows = [f"-> {record.name or 'leaf'}: {labels.shape_text(record.shape)}"
                    for record in gradients]
            if group.repeats > 1:  # one line for the blocks' parameters, not 2 per block
                rows = [f"{'.'.join(group.path)} ... {'.'.join(group.last_path)}",
                        f"-> {len(gradients)} parameter gradients: "
                        f"{_parameters_text(gradients)} in each block"]
            rows += [labels.gradient_row(self._input_description(e_forward, index), gradient)
                     for e_forward, index, gradient in self._group_input_gradients(group, events)]
            return labels.node_label(title, rows)
        return labels.node_label(f"{_group_name(group, self.module_types)} backward",
                                 [_counted([e.op for e in events])], rows)

    def _group_input_gradients(self, group: _ModuleGroup, events: list[Event]):
        """(forward event, input index, gradient) for each gradient a collapsed module's
        backward sends out of the module (to an op before it, not to its own parameters)."""
        inside = {e.node_id for e in group.events}
        for event in events:
            forward = self.forward_by_id.get(event.forward_node_id)
            if forward is None:
                continue
            for index, gradient in enumerate(event.outputs):
                record = forward.inputs[index] if index < len(forward.inputs) else None
                if gradient is None or record is None or record.producer_node_id in inside \
                        or record.producer_node_id in self.dropped:
                    continue
                if record.tensor_id in self.leaf_absorbed:
                    continue
                yield forward, index, gradient

    # ---- optimizer ----------------------------------------------------------------------
    def draw_optimizer(self) -> None:
        accumulate_of_parameter = {
            event.attributes.get("parameter"): self.drawn_backward.get(event.node_id)
            for event in self.backward if event.op == "AccumulateGrad"}
        for event in self.optimizer:
            name = f"n{event.node_id}"
            settings = {key: value for key, value in event.attributes.items()
                        if value not in (0, None, False)}  # dampening=0 is no news
            largest = max((max(abs(u.update.stats.get("min", 0.0)),
                               abs(u.update.stats.get("max", 0.0)))
                           for u in event.updates), default=0.0)
            rows = [f"{len(event.updates)} parameters updated",
                    f"largest change {labels.number(largest)}"]
            self.picture.add_node(DrawnNode(
                name, "optimizer",
                labels.node_label(_title(event), [labels.attributes_text(settings)], rows),
                (), labels.tooltip(f"{name}: {event.op}", event.source), (event.node_id,)))
            for update in event.updates:
                source = accumulate_of_parameter.get(update.name)
                if source is not None:
                    self.picture.add_edge(source, name, "update")


def _title(event: Event) -> str:
    """``Matmul (n3)``: the op and its node id, which the stepper and other labels use."""
    return f"{event.op} (n{event.node_id})"


def _counted(names: list[str]) -> str:
    """``Matmul, Add x2`` — each name once, with its count when above one."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items())


def _gradient_line(event: Event) -> str:
    for line in event.formula.splitlines():
        if line.strip().lower().startswith("gradient"):
            return line.strip()
    return ""


def _gradient_size(event: Event, sender: int) -> float | None:
    """The size of the gradient ``sender`` passed to ``event``: its root mean square
    (sqrt(mean² + std²)), from the recorded statistics; None when not recorded."""
    if event.op == "AccumulateGrad":
        records = [c.gradient for c in event.contributions if c.from_node_id == sender]
    else:
        records = [r for r in event.inputs[:1] if r is not None]
    stats = records[0].stats if records else {}
    if "mean" not in stats or "std" not in stats:
        return None
    return (stats["mean"] ** 2 + stats["std"] ** 2) ** 0.5


def _parameters_text(parameters: list[TensorRecord]) -> str:
    """``weight [16, 2]  bias [16]``: each parameter by its last name, repeats once."""
    texts = dict.fromkeys(f"{p.name.rsplit('.', 1)[-1] if p.name else 'tensor'} "
                          f"{labels.shape_text(p.shape)}" for p in parameters)
    return "  ".join(texts)
