"""The stepper's widgets, one per file: the timeline of nodes, the module tree, the detail,
chain-rule and kernel panes, the history sparklines, the progress banner and the help and
breakpoint screens."""
