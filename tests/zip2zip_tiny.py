"""The tiny zip2zip recipe the zip2zip tests share: a few steps on a 300-token model, finished in seconds."""

from __future__ import annotations

from retok.testing import ENGLISH

from hypernet.zip2zip.config import Zip2ZipTrainConfig

REPETITIVE = "\n".join(ENGLISH * 3)
TINY = Zip2ZipTrainConfig(max_codebook_size=64, max_subtokens=3, window=48, train_bytes=None, batch_size=2, encoder_hidden=16,
                          encoder_layers=1, encoder_heads=2, eval_every=0, checkpoint_every=0, lr=1e-2, encoder_lr=1e-2, warmup_steps=0,
                          warm_steps=3, warm_lr=1e-2)
