"""FSDP: `retok finetune` and `retok train-hypernet` under `accelerate launch --config_file recipes/accelerate_fsdp.yaml`.

torch's FSDP2 (``fully_shard``) runs on the CPU over gloo, but accelerate 1.16 makes an FSDP config
FSDP only on an accelerator: on a machine without GPUs the same launch gives plain DDP (``Accelerator(cpu=True)``
-> ``DistributedType.MULTI_CPU``). Run as a script, this file flips that one switch (:func:`fsdp_on_cpu`) and then
runs the ``retok`` command line (``python tests/test_fsdp.py retok finetune ...``) or a finetune that is stopped
and resumed (``... resume SPEC.json``), so the tests below drive retok's FSDP code paths (sharded parameters,
gathering on save, checkpoints, resume) through accelerate's own FSDP2 preparation with two CPU processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from retok import transplant
from retok.testing import ENGLISH, GERMAN, tiny_llama, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "recipes" / "accelerate_fsdp.yaml"


def fsdp_on_cpu() -> None:
    """Make accelerate honour ``ACCELERATE_USE_FSDP`` on the CPU too (gloo): set the FSDP type and plugin it sets on GPUs."""
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    original = AcceleratorState.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.distributed_type == DistributedType.MULTI_CPU and os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = kwargs.get("fsdp_plugin") or FullyShardedDataParallelPlugin()

    AcceleratorState.__init__ = init


def resume_run(spec: dict) -> None:
    """A training run stopped after ``stop_after`` steps, then the same call again (it resumes from the checkpoint)."""
    if spec["kind"] == "finetune":
        from retok.training.finetune import FinetuneConfig, finetune

        args = (spec["model"], spec["train"], spec["out"], FinetuneConfig(**spec["config"]))
        run = finetune
    else:
        import hypernet

        args = (spec["model"], [spec["train"]], spec["out"], hypernet.TrainConfig(**spec["config"]))
        run = hypernet.train
    run(*args, stop_after=spec["stop_after"], progress=False)
    run(*args, progress=False)


TRAIN = "\n".join(GERMAN * 6) + "\n"
EVAL = "\n".join(GERMAN[:3]) + "\n"
FINETUNE = dict(train_bytes=None, seq_len=16, batch_size=4, epochs=1, eval_every=10, checkpoint_every=5, lr=1e-2, embedding_lr=1e-2)


def launch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``accelerate launch --config_file recipes/accelerate_fsdp.yaml`` with two processes, running this file as the script."""
    with socket.socket() as s:  # a free port for the rendezvous, so parallel or repeated runs do not collide
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG), "--num_processes", "2",
               "--main_process_port", str(port), __file__, *args]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=240)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "sharded (FSDP2)" in run.stdout + run.stderr  # FSDP ran, not the DDP that accelerate makes of it on the CPU
    return run


def transplanted(folder: Path, *, tie: bool) -> Path:
    old = tiny_tokenizer(ENGLISH)
    return transplant(tiny_llama(len(old), tie=tie), tiny_tokenizer(GERMAN), "fvt", old_tokenizer=old).save_pretrained(folder)


def losses(history: list[dict]) -> list[float]:
    return [h["loss"] for h in history if "loss" in h]


def safetensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst < atol, worst


def test_the_config_is_fsdp2_full_shard_by_layer_with_a_full_state_dict(monkeypatch):
    """What accelerate's launcher makes of the file: the environment it gives each process, and the plugin built from it."""
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env
    from peft import get_peft_model
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

    from retok.training.lora import lora_config_for

    config = load_config_from_file(str(CONFIG))
    assert config.distributed_type == DistributedType.FSDP and config.mixed_precision == "no"
    assert config.fsdp_config["fsdp_version"] == 2 and config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert "fsdp_transformer_layer_cls_to_wrap" not in config.fsdp_config  # the model's own _no_split_modules

    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(
        ["--config_file", str(CONFIG), "--num_processes", "2", "--main_process_port", "29999", "script.py"]))
    assert args.use_fsdp and not args.multi_gpu and not args.cpu  # -> accelerate's torchrun launcher
    env = prepare_multi_gpu_env(args)
    fsdp_env = {k: v for k, v in env.items() if k.startswith("FSDP_") or k == "ACCELERATE_USE_FSDP"}
    assert fsdp_env["ACCELERATE_USE_FSDP"] == "true" and fsdp_env["FSDP_VERSION"] == "2"
    for key, value in fsdp_env.items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True  # FSDP2's FULL_SHARD
    assert plugin.state_dict_type.name == "FULL_STATE_DICT" and not plugin.cpu_ram_efficient_loading
    assert plugin.auto_wrap_policy is transformer_auto_wrap_policy and plugin.transformer_cls_names_to_wrap is None
    model = tiny_llama(40)
    plugin.set_auto_wrap_policy(get_peft_model(model, lora_config_for(model, rows=[3, 5])))  # what the trainer prepares
    assert plugin.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]


@pytest.mark.parametrize("rows", [[3, 5], None, []], ids=["new-rows", "all-rows", "no-rows"])
def test_a_tied_head_behind_peft_wrappers_is_shown_as_one_weight_while_sharding(rows):
    from peft import get_peft_model

    from retok.training.lora import lora_config_for
    from retok.training.trainer import tie_visible

    base = tiny_llama(40, tie=True)
    model = get_peft_model(base, lora_config_for(base, rows=rows))
    names = [n for n, _ in model.named_parameters()]
    with tie_visible(model):
        assert model.get_input_embeddings().weight is model.get_output_embeddings().weight
    assert [n for n, _ in model.named_parameters()] == names
    if rows:  # peft's trainable-token wrappers answer .weight with the merged matrix again
        assert model.get_input_embeddings().weight is not model.get_output_embeddings().weight


def test_distillation_is_refused_with_the_model_sharded(tmp_path):
    from retok import RetokError
    from retok.training.finetune import choose_objective

    model = transplanted(tmp_path / "m", tie=True)
    assert choose_objective(model, "auto", None, sharded=True)[:2] == ("lm", None)
    with pytest.raises(RetokError, match="does not run with the model sharded"):
        choose_objective(model, "lm+alm", None, sharded=True)


def test_a_finetune_output_loads_with_device_map_auto(tmp_path):
    from retok.training.finetune import FinetuneConfig, finetune

    out = finetune(transplanted(tmp_path / "m", tie=True), GERMAN * 2, tmp_path / "out", FinetuneConfig(**FINETUNE, objective="lm"),
                   progress=False, log=lambda _: None).out
    assert_loads_with_device_map_auto(out)


def assert_loads_with_device_map_auto(out: Path) -> None:
    from transformers import AutoModelForCausalLM

    ids = torch.arange(3, 20)[None]
    plain = AutoModelForCausalLM.from_pretrained(out)
    mapped = AutoModelForCausalLM.from_pretrained(out, device_map="auto")  # accelerate's placement (here all on the CPU)
    with torch.no_grad():
        assert torch.equal(plain(ids).logits, mapped(ids.to(mapped.device)).logits.cpu())


@pytest.mark.slow
def test_finetune_under_fsdp_trains_as_one_process_and_saves_a_plain_folder(tmp_path):
    """`retok finetune` under the FSDP config (tied head, the new rows and LoRA training) against the same run in one process."""
    from retok.training.finetune import FinetuneConfig, finetune

    model = transplanted(tmp_path / "m", tie=True)
    (tmp_path / "de.txt").write_text(TRAIN, encoding="utf-8")
    (tmp_path / "eval.txt").write_text(EVAL, encoding="utf-8")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in FINETUNE.items()]
    run = launch(tmp_path, "retok", "finetune", "--model", str(model), "--train", "de.txt", "--eval", "eval.txt", "--out", "fsdp", *flags)
    assert "objective lm (auto)" in run.stdout
    one = finetune(model, tmp_path / "de.txt", tmp_path / "one", FinetuneConfig(**FINETUNE, objective="lm"),
                   eval_text=EVAL, progress=False, log=lambda _: None)
    history = json.loads((tmp_path / "fsdp" / "finetune_history.json").read_text())
    assert len(losses(history)) == len(losses(one.history)) > 30
    assert max(abs(a - b) for a, b in zip(losses(history), losses(one.history))) < 1e-4
    assert [h["bpb"] for h in history if "bpb" in h] == pytest.approx([h["bpb"] for h in one.history if "bpb" in h], abs=1e-4)
    assert_same_weights(safetensors(tmp_path / "fsdp"), safetensors(one.out))  # merged: no adapter, no shard names
    assert not (tmp_path / "fsdp.partial").exists()
    assert_loads_with_device_map_auto(tmp_path / "fsdp")


@pytest.mark.slow
def test_finetune_stopped_and_resumed_under_fsdp_ends_as_one_uninterrupted_process(tmp_path):
    """Untied head: the checkpoint holds the gathered tensors and optimizer state, and they go back into the shards."""
    from retok.training.finetune import FinetuneConfig, finetune

    model = transplanted(tmp_path / "m", tie=False)
    (tmp_path / "de.txt").write_text(TRAIN, encoding="utf-8")
    config = {**FINETUNE, "eval_every": 0, "objective": "lm"}
    spec = {"kind": "finetune", "model": str(model), "train": str(tmp_path / "de.txt"), "out": str(tmp_path / "fsdp"),
            "stop_after": 7, "config": config}
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    run = launch(tmp_path, "resume", str(tmp_path / "spec.json"))
    assert "resuming from step 7" in run.stdout
    one = finetune(model, tmp_path / "de.txt", tmp_path / "one", FinetuneConfig(**config), progress=False, log=lambda _: None)
    history = json.loads((tmp_path / "fsdp" / "finetune_history.json").read_text())
    assert max(abs(a - b) for a, b in zip(losses(history), losses(one.history))) < 1e-4 and len(losses(history)) == one.steps
    assert_same_weights(safetensors(tmp_path / "fsdp"), safetensors(one.out))


@pytest.mark.slow
def test_train_hypernet_under_fsdp_stopped_and_resumed_matches_one_process(tmp_path):
    """The frozen LM's decoder and the hypernetwork sharded; stopped in stage 2, resumed, saved unsharded."""
    import hypernet
    from hypernet import Hypernet

    from conftest import TINY_HYPERNET

    tok = tiny_tokenizer()
    tiny_llama(len(tok), tie=False).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    (tmp_path / "train.txt").write_text("\n".join((GERMAN + ENGLISH) * 20) + "\n", encoding="utf-8")
    config = {**TINY_HYPERNET, "steps": 3}
    spec = {"kind": "hypernet", "model": str(tmp_path / "model"), "train": str(tmp_path / "train.txt"), "out": str(tmp_path / "fsdp"),
            "stop_after": config["stage1_steps"] + 1, "config": config}
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    run = launch(tmp_path, "resume", str(tmp_path / "spec.json"))
    assert "stage 1 already done" in run.stdout and "resuming from step 1 of 3" in run.stdout
    one = hypernet.train(tmp_path / "model", [tmp_path / "train.txt"], tmp_path / "one", hypernet.TrainConfig(**config),
                         progress=False, log=lambda _: None)
    assert_same_weights(Hypernet.from_pretrained(tmp_path / "fsdp").state_dict(), one.hypernet.state_dict())
    assert_same_weights(Hypernet.from_pretrained(tmp_path / "fsdp" / "stage1").state_dict(),
                        Hypernet.from_pretrained(tmp_path / "one" / "stage1").state_dict())


if __name__ == "__main__":  # under accelerate launch (see launch): accelerate's FSDP on the CPU, then retok
    fsdp_on_cpu()
    if sys.argv[1] == "resume":
        resume_run(json.loads(Path(sys.argv[2]).read_text()))
    else:
        from retok.cli import main

        sys.exit(main(sys.argv[2:]))
