"""The PPO critic: a causal-LM backbone with a scalar value head on every position.

TRL deleted ``AutoModelForCausalLMWithValueHead`` (trl#7020), so rldistill
defines its own: ``AutoModel`` (the transformer without its LM head) plus one
``nn.Linear(hidden_size, 1)``. ``ValueModel.from_pretrained(path)`` starts
from any causal-LM checkpoint (the policy by default, so the critic shares the
student's representation) or from a directory this module saved; in the latter
case the head is loaded from ``value_head.safetensors`` next to the backbone.

``PolicyAndValue`` puts policy and critic in one module for accelerate and
DeepSpeed. It takes either a separate ``ValueModel`` (the standard PPO-for-LMs
setup, as OpenRLHF and veRL) or, with ``shared_critic``, only a value head on
the policy's own last hidden state (TRL's old ``AutoModelForCausalLMWithValueHead``):
one forward/backward per pass instead of two and one model's memory instead of
two, at the price of the value loss also training the policy's trunk. The
shared head is saved as ``value_head.safetensors`` next to the policy, so
``ValueModel.from_pretrained(policy_dir)`` rebuilds that critic as a standalone
model.

What it leaves out: dropout in the head, and PEFT.

    critic = ValueModel.from_pretrained("runs/tiny/sft")
    values = critic(input_ids, attention_mask=mask)      # (batch, seq_len) float32
    critic.save_pretrained("runs/tiny/ppo/critic")
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel

HEAD_FILE = "value_head.safetensors"


class ValueModel(nn.Module):
    """``backbone`` (a transformers base model) -> last hidden state -> ``v_head`` -> one value per token."""

    def __init__(self, backbone: nn.Module, v_head: nn.Linear | None = None):
        super().__init__()
        self.backbone = backbone
        self.v_head = v_head if v_head is not None else new_head(backbone.config)
        self.config = backbone.config

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, dtype=None, **kwargs) -> "ValueModel":
        """Backbone from any causal-LM checkpoint; head from ``value_head.safetensors`` if the directory has one."""
        kw = dict(kwargs)
        if dtype is not None:
            kw["dtype"] = dtype
        backbone = AutoModel.from_pretrained(name_or_path, **kw)
        model = cls(backbone)
        load_head(model.v_head, name_or_path)
        # Only the head is cast: under ZeRO-3 init the backbone's parameters are already partitioned.
        model.v_head.to(backbone.dtype)
        return model

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs) -> torch.Tensor:
        out = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False, **kwargs
        )
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return self.v_head(hidden).squeeze(-1).float()

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        self.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)

    def save_pretrained(self, out_dir: str | os.PathLike, state_dict: dict | None = None) -> Path:
        """Write the backbone as a transformers directory plus ``value_head.safetensors``.

        ``state_dict`` (keys ``backbone.*`` and ``v_head.*``) lets a caller pass weights
        gathered from a ZeRO-3 shard; without it the module's own weights are used.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state_dict = state_dict if state_dict is not None else self.state_dict()
        backbone_sd = {k.removeprefix("backbone."): v for k, v in state_dict.items() if k.startswith("backbone.")}
        head_sd = {k.removeprefix("v_head."): v for k, v in state_dict.items() if k.startswith("v_head.")}
        self.backbone.save_pretrained(out, state_dict=backbone_sd)
        save_head(head_sd, out)
        return out


def new_head(config) -> nn.Linear:
    """``Linear(hidden_size, 1)``, zero-initialised: the critic starts by predicting 0 everywhere instead of
    noise from an untrained projection, so the first advantages are just the rewards."""
    head = nn.Linear(_hidden_size(config), 1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def load_head(head: nn.Linear, name_or_path) -> bool:
    """Load ``value_head.safetensors`` from a local directory into ``head``; False where there is none."""
    path = Path(name_or_path) / HEAD_FILE
    if not path.is_file():
        return False
    head.load_state_dict(load_file(str(path)))
    return True


def save_head(state_dict: dict, out_dir) -> Path:
    """Write a head's weights (keys ``weight``, ``bias``) as ``out_dir/value_head.safetensors``."""
    out = Path(out_dir) / HEAD_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in state_dict.items()}, str(out))
    return out


def _hidden_size(config) -> int:
    for name in ("hidden_size", "n_embd", "d_model"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    text = getattr(config, "text_config", None)
    if text is not None:
        return _hidden_size(text)
    raise ValueError(f"cannot find the hidden size in {type(config).__name__}")



class PolicyAndValue(nn.Module):
    """Policy and critic as one module, so that accelerate/DeepSpeed prepare them as one engine with one optimizer.

    (DeepSpeed takes one model per engine; TRL's deleted PPOTrainer used the same wrapper.) The critic is either
    a separate ``ValueModel`` (``critic``) or a value head on the policy's last hidden state (``v_head``: one
    pass of one model gives both). ``forward`` returns the policy's logits and the values for the last
    ``n_positions`` positions only, which is all PPO reads: the positions that predict the completion tokens.
    """

    def __init__(self, policy: nn.Module, critic: ValueModel | None = None, v_head: nn.Linear | None = None):
        super().__init__()
        if (critic is None) == (v_head is None):
            raise ValueError("PolicyAndValue takes a separate critic or a shared value head, exactly one")
        self.policy = policy
        if critic is not None:
            self.critic = critic
        else:
            self.v_head = v_head
        self.config = policy.config  # accelerate reads hidden_size from here to size DeepSpeed buckets

    @property
    def shared(self) -> bool:
        return "v_head" in self._modules

    def critic_parameters(self):
        return (self.v_head if self.shared else self.critic).parameters()

    def forward(self, input_ids, attention_mask, position_ids, n_positions: int):
        out = self.policy(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            use_cache=False, logits_to_keep=n_positions, output_hidden_states=self.shared,
        )
        if self.shared:
            # hidden_states[-1] is the final-normed state the LM head reads (transformers ties it to
            # last_hidden_state); only the kept positions go through the head.
            values = self.v_head(out.hidden_states[-1][:, -n_positions:]).squeeze(-1).float()
        else:
            values = self.critic(input_ids, attention_mask=attention_mask, position_ids=position_ids)
        return out.logits[:, -n_positions:], values[:, -n_positions:]
