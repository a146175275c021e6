"""The stepper's actions in the command palette (ctrl+p).

The palette lists exactly the key bindings of the app, read from its ``BINDINGS``: a key
and a palette entry are two doors to one ``action_*`` method, and a new binding appears
here without an edit.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class StepperCommands(Provider):
    """Fuzzy-searchable commands, one per distinct action of the app's bindings."""

    def _commands(self) -> list[tuple[str, str, str]]:
        """``(title, help, action)`` for every binding with a description."""
        seen, commands = set(), []
        for binding in self.app.BINDINGS:
            if binding.description and binding.action not in seen:
                seen.add(binding.action)
                keys = binding.key.replace("question_mark", "?")
                commands.append((binding.description, f"{binding.tooltip} (key {keys})",
                                 binding.action))
        return commands

    def _run(self, action: str):
        return partial(self.app.run_action, action)

    async def discover(self) -> Hits:
        for title, help_text, action in self._commands():
            yield DiscoveryHit(title, self._run(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._run(action), help=help_text)
