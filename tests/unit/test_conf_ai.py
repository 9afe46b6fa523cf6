"""The ai: section: the key only from the environment, never shown; defaults; bounds."""

from __future__ import annotations

import typing

import pytest
from anthropic.types.model_param import ModelParam

import conf
from conf.schema.ai import DEFAULT_MODEL


def test_the_key_comes_from_the_environment_and_is_not_in_the_repr():
    s = conf.parse(
        'ai: {api_key: "${ANTHROPIC_API_KEY:-}"}\n', environ={"ANTHROPIC_API_KEY": "sk-x1"}
    )
    assert s.ai.key == "sk-x1"
    assert "sk-x1" not in repr(s) and "sk-x1" not in str(s.ai)
    unset = conf.parse('ai: {api_key: "${ANTHROPIC_API_KEY:-}"}\n', environ={})
    assert unset.ai.key is None  # no key: fallback lines, not an error
    assert conf.parse("log_level: info\n", environ={}).ai.key is None


def test_a_key_written_in_the_file_is_refused():
    with pytest.raises(conf.ConfigError) as err:
        conf.parse('ai: {api_key: "sk-ant-literal"}\n', environ={})
    assert "must come from the environment" in str(err.value)
    assert "sk-ant-literal" not in str(err.value)


def test_defaults_and_cross_checks():
    s = conf.parse("log_level: info\n", environ={}).ai
    assert (s.model, s.max_concurrency, s.base_url) == (DEFAULT_MODEL, 4, None)
    # The default is a model the installed SDK knows (its own list of model names).
    known = typing.get_args(typing.get_args(ModelParam)[0])
    assert DEFAULT_MODEL in known and DEFAULT_MODEL.startswith("claude-haiku")
    with pytest.raises(conf.ConfigError) as err:
        conf.parse("ai: {min_chars: 300, max_chars: 200}\n", environ={})
    assert "ai.min_chars: must be below max_chars" in str(err.value)
