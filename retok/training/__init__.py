"""Continued training after the swap: one training loop for everything retok trains.

* :mod:`.trainer`: the loop (LR schedule, eval cadence, clipping, exact resume, accelerate/DDP);
* :mod:`.checkpoints`: the one checkpoint-folder scheme (``settings.json``, cached results, training states);
* :mod:`.finetune`: LoRA continued training of a transplanted model, held-out BPB, merge and export;
* :mod:`.lora`: the peft ``LoraConfig`` for a model and its parameter groups;
* :mod:`.packing`: training text by byte budget, packed into equal blocks;
* :mod:`.distill`: ALM distillation from the original model (losses, aligned blocks, chunk alignment, the objective).
"""

from __future__ import annotations

from retok.lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(__name__, __path__, {})
