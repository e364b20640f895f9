"""Tiny random configs of the causal-LM families users fine-tune (issue 26's architecture matrix).

A fixture module, not a test file: ``ARCHITECTURES[name](vocab_size=..., tie=...)`` builds the
config of one family, small enough that a forward pass takes milliseconds (hidden 32-64, 2 layers,
4 heads, max positions 256), and :func:`tiny_model` builds the model from it, deterministically.
Every config has bos / eos / pad at ids 1 / 2 / 2, the specials of :func:`retok.testing.tiny_tokenizer`.

Each builder keeps what makes its family different from Llama, since that is what a tokenizer
transfer can get wrong: an LM-head bias (Phi, GPT-J), scaled input embeddings (Gemma's
normalizer, Granite's ``embedding_multiplier``), scaled or soft-capped logits (Cohere's
``logit_scale``, Granite's ``logits_scaling``, Gemma-2's ``final_logit_softcapping``), learned
positions (GPT-2, OPT), parallel residuals (GPT-NeoX, Falcon, Phi), sliding-window layers
(Mistral, Gemma, Starcoder2), mixtures of experts (Mixtral, Qwen3-MoE). Every family here ties its
head through ``tie_word_embeddings``, so each has a tied and an untied variant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import transformers
from transformers import AutoModelForCausalLM, PretrainedConfig

#: the tiny tokenizer's specials: <|im_start|> (bos) and <|im_end|> (eos and pad)
SPECIAL_IDS = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
HIDDEN = 32
HEADS = 4
LAYERS = 2
POSITIONS = 256

# the fields most Llama-like configs spell the same way
_LLAMA_LIKE = dict(hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                   max_position_embeddings=POSITIONS)


def _config(cls_name: str, vocab_size: int, tie: bool, **fields: Any) -> PretrainedConfig:
    cls = getattr(transformers, cls_name)
    return cls(vocab_size=vocab_size, tie_word_embeddings=tie, **SPECIAL_IDS, **fields)


def llama(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("LlamaConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, head_dim=HIDDEN // HEADS)


def mistral(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("MistralConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, head_dim=HIDDEN // HEADS, sliding_window=16)


def mixtral(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("MixtralConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, head_dim=HIDDEN // HEADS,
                   num_local_experts=4, num_experts_per_tok=2)


def qwen2(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("Qwen2Config", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2)


def qwen3(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("Qwen3Config", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, head_dim=HIDDEN // HEADS)


def qwen3_moe(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("Qwen3MoeConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, head_dim=HIDDEN // HEADS,
                   num_experts=4, num_experts_per_tok=2, moe_intermediate_size=HIDDEN, decoder_sparse_step=1, norm_topk_prob=True)


def gemma2(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("Gemma2Config", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, head_dim=HIDDEN // HEADS,
                   query_pre_attn_scalar=HIDDEN // HEADS, sliding_window=16, layer_types=["sliding_attention", "full_attention"],
                   final_logit_softcapping=30.0, attn_logit_softcapping=50.0)


def gemma3(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("Gemma3TextConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, head_dim=HIDDEN // HEADS,
                   query_pre_attn_scalar=HIDDEN // HEADS, sliding_window=16, layer_types=["sliding_attention", "full_attention"])


def phi3(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("Phi3Config", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, original_max_position_embeddings=POSITIONS)


def phi(vocab_size: int, tie: bool) -> PretrainedConfig:
    """Phi-1/2: parallel attention and MLP, partial rotary, and an LM head with a bias."""
    return _config("PhiConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=HEADS)


def gpt2(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("GPT2Config", vocab_size, tie, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=2 * HIDDEN, n_positions=POSITIONS)


def gpt_neox(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("GPTNeoXConfig", vocab_size, tie, **_LLAMA_LIKE)


def gptj(vocab_size: int, tie: bool) -> PretrainedConfig:
    """GPT-J: parallel residual, rotary on part of each head, and an LM head with a bias."""
    return _config("GPTJConfig", vocab_size, tie, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=2 * HIDDEN,
                   n_positions=POSITIONS, rotary_dim=4)


def olmo2(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("Olmo2Config", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2)


def stablelm(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("StableLmConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2)


def falcon(vocab_size: int, tie: bool) -> PretrainedConfig:
    """Falcon-7B style: multi-query attention, parallel attention and MLP."""
    return _config("FalconConfig", vocab_size, tie, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                   max_position_embeddings=POSITIONS, ffn_hidden_size=2 * HIDDEN)


def cohere(vocab_size: int, tie: bool) -> PretrainedConfig:
    """Cohere (Command-R): logits multiplied by ``logit_scale``."""
    return _config("CohereConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, logit_scale=0.25)


def granite(vocab_size: int, tie: bool) -> PretrainedConfig:
    """Granite: input embeddings multiplied by ``embedding_multiplier``, logits divided by ``logits_scaling``."""
    return _config("GraniteConfig", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, embedding_multiplier=12.0,
                   logits_scaling=8.0, residual_multiplier=0.22, attention_multiplier=0.125)


def starcoder2(vocab_size: int, tie: bool) -> PretrainedConfig:
    return _config("Starcoder2Config", vocab_size, tie, **_LLAMA_LIKE, num_key_value_heads=2, sliding_window=16)


def opt(vocab_size: int, tie: bool) -> PretrainedConfig:
    """OPT: learned positions (offset by 2), and no projection (``word_embed_proj_dim`` = hidden)."""
    return _config("OPTConfig", vocab_size, tie, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                   ffn_dim=2 * HIDDEN, max_position_embeddings=POSITIONS, word_embed_proj_dim=HIDDEN)


#: family name -> ``builder(vocab_size, tie) -> config``
ARCHITECTURES: dict[str, Callable[..., PretrainedConfig]] = {
    "llama": llama,
    "mistral": mistral,
    "mixtral": mixtral,
    "qwen2": qwen2,
    "qwen3": qwen3,
    "qwen3_moe": qwen3_moe,
    "gemma2": gemma2,
    "gemma3": gemma3,
    "phi3": phi3,
    "phi": phi,
    "gpt2": gpt2,
    "gpt_neox": gpt_neox,
    "gptj": gptj,
    "olmo2": olmo2,
    "stablelm": stablelm,
    "falcon": falcon,
    "cohere": cohere,
    "granite": granite,
    "starcoder2": starcoder2,
    "opt": opt,
}


def tiny_model(name: str, vocab_size: int, tie: bool, seed: int = 0) -> transformers.PreTrainedModel:
    """The family ``name``'s causal LM with random weights from ``seed``: eval mode, float32, eager attention.

    Eager attention, so that the logits of two calls on the same input are bit-identical whatever
    kernels the installed torch picks. An LM-head bias (Phi, GPT-J) is drawn at random too (the
    families initialise it to zero), so that a transfer that drops or misplaces its rows shows.
    """
    config = ARCHITECTURES[name](vocab_size=vocab_size, tie=tie)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
        bias = getattr(model.get_output_embeddings(), "bias", None)
        if bias is not None:
            with torch.no_grad():
                bias.normal_(0.0, 0.1)
    return model.float().eval()


__all__ = ["ARCHITECTURES", "SPECIAL_IDS", "tiny_model"]
