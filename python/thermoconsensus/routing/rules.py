"""Rule-based routing: keyword and regex patterns per endpoint (a math specialist vs a generalist)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Rule", "RuleMatch", "match_rules"]


@dataclass(frozen=True)
class Rule:
    """Sends prompts that contain any of ``keywords`` (case-insensitive, whole words) or match any of
    ``patterns`` (Python regexes) to ``endpoint``; ``domain`` labels them for the learned router."""

    endpoint: str
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    domain: str | None = None
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.endpoint, str) or not self.endpoint:
            raise ValueError("rule: 'endpoint' must be a non-empty string")
        for name in ("keywords", "patterns"):
            values = getattr(self, name)
            if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"rule for {self.endpoint!r}: '{name}' must be a list of non-empty strings")
        compiled = []
        for kw in self.keywords:
            compiled.append(re.compile(rf"(?<!\w){re.escape(kw)}(?!\w)", re.IGNORECASE))
        for pattern in self.patterns:
            try:
                compiled.append(re.compile(pattern))
            except re.error as exc:
                raise ValueError(f"rule for {self.endpoint!r}: bad regex {pattern!r}: {exc}") from None
        object.__setattr__(self, "_compiled", tuple(compiled))

    def hits(self, text: str) -> list[str]:
        """The keywords and patterns of this rule found in ``text``."""
        names = [*self.keywords, *self.patterns]
        return [name for name, rx in zip(names, self._compiled) if rx.search(text)]


@dataclass(frozen=True)
class RuleMatch:
    """The rule that won, and what it found."""

    rule: Rule
    hits: list[str]

    @property
    def domain(self) -> str:
        """The rule's domain, or its endpoint's name."""
        return self.rule.domain or self.rule.endpoint


def match_rules(rules: list[Rule], text: str) -> RuleMatch | None:
    """The rule with the most hits in ``text`` (the first listed on a tie), or None."""
    best: RuleMatch | None = None
    for rule in rules:
        hits = rule.hits(text)
        if hits and (best is None or len(hits) > len(best.hits)):
            best = RuleMatch(rule, hits)
    return best
