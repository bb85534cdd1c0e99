"""Prompts: tag libraries, composition, templates, token counting and policy (pure Python)."""

from workbench.prompts.compose import Composition, Modifier, compose
from workbench.prompts.library import Tag, TagLibrary, UnknownTagError
from workbench.prompts.policy import Policy, PolicyRefusal

__all__ = ["Composition", "Modifier", "compose", "Tag", "TagLibrary", "UnknownTagError", "Policy", "PolicyRefusal"]
